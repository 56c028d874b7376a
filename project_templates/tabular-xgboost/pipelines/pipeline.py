"""The project's SageMaker Pipeline: prepare, baseline, train, evaluate, gate, and register.

``prepare -> train -> evaluate -> gate``, with the data-quality baseline beside training. When the
evaluation's AUC reaches the ``MetricThreshold`` parameter the gate creates a SageMaker model, computes
the model-quality, bias and explainability baselines against it, and registers the model into
``<project>-<stage>`` with those baselines as drift-check baselines and model metrics, plus lineage
metadata. Below the threshold the pipeline fails with the metric in the message.

Every job (processing, training, the checks, and the model Clarify's shadow endpoint and batch
transforms use) runs in the platform's isolated subnets with its jobs security group and encrypted
traffic between instances (``JobNetwork``, read from the platform's SSM parameters); the platform
refuses to create jobs without them. Jobs that call nothing (preparation, training) also run
network-isolated.

Defining the pipeline calls no SageMaker API, but it uploads the job scripts, the job configuration
and Clarify's analysis configs to the artifact bucket.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import boto3
from sagemaker.core import image_uris
from sagemaker.core.clarify import BiasConfig, DataConfig, ModelConfig, ModelPredictedLabelConfig, SHAPConfig
from sagemaker.core.drift_check_baselines import DriftCheckBaselines
from sagemaker.core.metadata_properties import MetadataProperties
from sagemaker.core.model_metrics import FileSource, MetricsSource, ModelMetrics
from sagemaker.core.model_monitor.dataset_format import DatasetFormat
from sagemaker.core.network import NetworkConfig
from sagemaker.core.processing import ScriptProcessor
from sagemaker.core.shapes import ProcessingInput, ProcessingOutput, ProcessingS3Input, ProcessingS3Output
from sagemaker.core.training.configs import Compute, InputData, Networking, OutputDataConfig
from sagemaker.core.workflow.conditions import ConditionGreaterThanOrEqualTo
from sagemaker.core.workflow.execution_variables import ExecutionVariables
from sagemaker.core.workflow.functions import Join, JsonGet
from sagemaker.core.workflow.parameters import ParameterBoolean, ParameterFloat, ParameterString
from sagemaker.core.workflow.pipeline_context import PipelineSession
from sagemaker.core.workflow.properties import PropertyFile
from sagemaker.mlops.workflow.check_job_config import CheckJobConfig
from sagemaker.mlops.workflow.clarify_check_step import (
    ClarifyCheckStep,
    ModelBiasCheckConfig,
    ModelExplainabilityCheckConfig,
)
from sagemaker.mlops.workflow.condition_step import ConditionStep
from sagemaker.mlops.workflow.fail_step import FailStep
from sagemaker.mlops.workflow.model_step import ModelStep
from sagemaker.mlops.workflow.pipeline import Pipeline
from sagemaker.mlops.workflow.quality_check_step import (
    DataQualityCheckConfig,
    ModelQualityCheckConfig,
    QualityCheckStep,
)
from sagemaker.mlops.workflow.steps import ProcessingStep, TrainingStep
from sagemaker.serve.model_builder import ModelBuilder
from sagemaker.train.model_trainer import ModelTrainer

from pipelines import naming

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = ROOT / "config"
JOBS_DIR = ROOT / "jobs"

#: The built-in XGBoost algorithm's image; the processing jobs run in it too (it ships pandas and pyarrow).
XGBOOST_VERSION = "3.0-5"
PROBLEM_TYPE = "BinaryClassification"
#: A predicted probability above this is the positive label (for model-quality monitoring).
PROBABILITY_THRESHOLD = "0.5"
#: The metric the gate compares with ``MetricThreshold`` (a key of the evaluation report).
GATE_METRIC = "auc"
#: Metrics copied from the evaluation report into the package's customer metadata.
REPORTED_METRICS = ("auc", "accuracy", "f1")
CSV = "text/csv"
PARQUET = "application/x-parquet"
JSON = "application/json"


@dataclass(frozen=True)
class JobNetwork:
    """The subnets and security groups every job of the pipeline runs in (the platform's dev VPC)."""

    subnets: tuple[str, ...]
    security_group_ids: tuple[str, ...]

    @classmethod
    def from_ssm(cls, ssm, platform_prefix: str) -> JobNetwork:
        """Read the platform's parameters (``naming.job_network_parameters``) with ``ssm``, a boto3 client."""
        subnets_name, group_name = naming.job_network_parameters(platform_prefix)
        response = ssm.get_parameters(Names=[subnets_name, group_name])
        if response["InvalidParameters"]:
            raise SystemExit(
                f"SSM parameters {', '.join(response['InvalidParameters'])} not found: is the platform's network "
                f"stack deployed in this account and region, and is PLATFORM_PREFIX={platform_prefix!r} right?"
            )
        values = {parameter["Name"]: parameter["Value"] for parameter in response["Parameters"]}
        return cls(subnets=tuple(values[subnets_name].split(",")), security_group_ids=(values[group_name],))

    def network_config(self, *, isolated: bool = False) -> NetworkConfig:
        """For processing and check jobs; ``isolated`` when the job's code calls nothing."""
        return NetworkConfig(
            subnets=list(self.subnets),
            security_group_ids=list(self.security_group_ids),
            encrypt_inter_container_traffic=True,
            enable_network_isolation=isolated,
        )

    def check_network_config(self) -> NetworkConfig:
        """For check jobs (quality and Clarify): the SDK puts their ``network_config`` into the request
        as it is, so it must also be the request's dict."""
        return _RequestNetworkConfig(
            subnets=list(self.subnets),
            security_group_ids=list(self.security_group_ids),
            encrypt_inter_container_traffic=True,
            enable_network_isolation=False,
        )

    def networking(self, *, isolated: bool = False) -> Networking:
        """For training jobs and models (ModelTrainer, ModelBuilder)."""
        return Networking(
            subnets=list(self.subnets),
            security_group_ids=list(self.security_group_ids),
            enable_inter_container_traffic_encryption=True,
            enable_network_isolation=isolated,
        )


class _RequestNetworkConfig(NetworkConfig, dict):
    """A NetworkConfig that is also its CreateProcessingJob request dict (see ``check_network_config``)."""

    def __init__(self, **settings) -> None:
        NetworkConfig.__init__(self, **settings)
        dict.__init__(self, self._to_request_dict())


@dataclass(frozen=True)
class PipelineSettings:
    """What differs between projects, stages and runs at definition time."""

    project: str
    stage: str  # feature or dev
    role_arn: str
    bucket: str
    job_network: JobNetwork
    auto_approve_feature: bool = False
    repository: str | None = None  # git remote, recorded in MetadataProperties
    ground_truth_s3_uri: str | None = None  # where the team puts labels for model-quality monitoring
    default_dataset_uri: str | None = None

    @property
    def dataset_uri(self) -> str:
        """The dataset's default location: the data engineer publishes it under ``data/<project>/``."""
        return self.default_dataset_uri or f"s3://{self.bucket}/data/{self.project}/dataset.csv"

    @property
    def output_root(self) -> str:
        """Where this stage's runs write, under the project's prefix of the artifact bucket."""
        return f"s3://{self.bucket}/{naming.artifact_prefix(self.project)}/{self.stage}"


def pipeline_session(bucket: str, project: str, boto_session: boto3.Session | None = None) -> PipelineSession:
    """A session whose default bucket is the platform's artifact bucket, under the project's prefix.

    SDK telemetry is off: it would report usage over the internet, which the platform's Studio network
    cannot reach.
    """
    return PipelineSession(
        boto_session=boto_session or boto3.Session(),
        default_bucket=bucket,
        default_bucket_prefix=naming.artifact_prefix(project),
        sagemaker_config={"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}},
    )


def load_json(name: str) -> dict:
    return json.loads((CONFIG_DIR / name).read_text())


def config_digest() -> str:
    """A digest of the configuration the jobs read; it names the S3 prefixes of that configuration."""
    files = [CONFIG_DIR / "dataset.json", CONFIG_DIR / "pii.json"]
    return hashlib.sha256(b"\0".join(file.read_bytes() for file in files)).hexdigest()[:16]


def upload_job_config(settings: PipelineSettings, session: PipelineSession) -> str:
    """Upload the preparation job's configuration under its digest and return the S3 prefix.

    A run keeps reading the configuration it was defined with even after a later push updates the
    pipeline, and the prefix tells which configuration produced a dataset.
    """
    prefix = f"{naming.artifact_prefix(settings.project)}/{settings.stage}/job-config/{config_digest()}"
    for name in ("dataset.json", "pii.json"):
        session.upload_data(path=str(CONFIG_DIR / name), bucket=settings.bucket, key_prefix=prefix)
    return f"s3://{settings.bucket}/{prefix}"


def _run_path(settings: PipelineSettings, *parts: str) -> Join:
    """``<output root>/<execution id>/<parts>``: every run writes to its own prefix."""
    return Join(on="/", values=[settings.output_root, ExecutionVariables.PIPELINE_EXECUTION_ID, *parts])


def _input(name: str, source, destination: str) -> ProcessingInput:
    return ProcessingInput(
        input_name=name,
        s3_input=ProcessingS3Input(
            s3_uri=source, local_path=destination, s3_data_type="S3Prefix", s3_input_mode="File"
        ),
    )


def _output(name: str, source: str, destination) -> ProcessingOutput:
    return ProcessingOutput(
        output_name=name,
        s3_output=ProcessingS3Output(s3_uri=destination, local_path=source, s3_upload_mode="EndOfJob"),
    )


def get_pipeline(settings: PipelineSettings, session: PipelineSession) -> Pipeline:
    """The pipeline of one stage (``feature`` or ``dev``), registering into ``<project>-<stage>``."""
    name = naming.pipeline_name(settings.project, settings.stage)  # refuses the stages that do not train
    region = session.boto_region_name
    group = naming.group_name(settings.project, settings.stage)
    dataset = load_json("dataset.json")
    hyperparameters = load_json("hyperparameters.json")
    label, features = dataset["label"], list(dataset["features"])
    image = image_uris.retrieve(framework="xgboost", region=region, version=XGBOOST_VERSION)

    input_data = ParameterString(name="InputDataUrl", default_value=settings.dataset_uri)
    dataset_version = ParameterString(name="DatasetVersion", default_value="unknown")
    git_commit = ParameterString(name="GitCommit", default_value="unknown")
    git_branch = ParameterString(name="GitBranch", default_value="unknown")
    metric_threshold = ParameterFloat(name="MetricThreshold", default_value=0.7)
    processing_instance = ParameterString(name="ProcessingInstanceType", default_value="ml.m5.xlarge")
    training_instance = ParameterString(name="TrainingInstanceType", default_value="ml.m5.xlarge")
    skip_drift_checks = ParameterBoolean(name="SkipDriftChecks", default_value=True)
    register_new_baselines = ParameterBoolean(name="RegisterNewBaselines", default_value=True)

    network = settings.job_network

    def processor(base_job_name: str, env: dict | None = None, *, isolated: bool = False) -> ScriptProcessor:
        return ScriptProcessor(
            role=settings.role_arn,
            image_uri=image,
            command=["python3"],
            instance_type=processing_instance,
            instance_count=1,
            base_job_name=f"{settings.project}-{base_job_name}",
            env=env,
            network_config=network.network_config(isolated=isolated),
            sagemaker_session=session,
        )

    def check_job(base_job_name: str) -> CheckJobConfig:
        return CheckJobConfig(
            role=settings.role_arn,
            instance_type="ml.m5.xlarge",
            base_job_name=f"{settings.project}-{base_job_name}",
            network_config=network.check_network_config(),
            sagemaker_session=session,
        )

    # -- data preparation and its baseline ----------------------------------------------------------
    prepared = ["curated", "train", "validation", "test", "baseline"]
    prepare = ProcessingStep(
        name="PrepareData",
        description="Select and cast columns, drop or hash PII, write Parquet splits",
        step_args=processor("prepare", isolated=True).run(
            code=str(JOBS_DIR / "preprocess.py"),
            inputs=[
                _input("dataset", input_data, "/opt/ml/processing/input"),
                _input("config", upload_job_config(settings, session), "/opt/ml/processing/config"),
            ],
            outputs=[
                _output(name, f"/opt/ml/processing/output/{name}", _run_path(settings, "prepared", name))
                for name in prepared
            ],
        ),
    )

    def prepared_uri(name: str):
        return prepare.properties.ProcessingOutputConfig.Outputs[name].S3Output.S3Uri

    data_quality = QualityCheckStep(
        name="DataQualityBaseline",
        description="Statistics and constraints of the training features (Model Monitor's data-quality baseline)",
        quality_check_config=DataQualityCheckConfig(
            baseline_dataset=prepared_uri("baseline"),
            dataset_format=DatasetFormat.csv(header=False),
            output_s3_uri=_run_path(settings, "baselines", "data-quality"),
        ),
        check_job_config=check_job("data-quality"),
        skip_check=skip_drift_checks,
        register_new_baseline=register_new_baselines,
        model_package_group_name=group,
    )

    # -- training and evaluation -------------------------------------------------------------------
    trainer = ModelTrainer(
        training_image=image,
        compute=Compute(instance_type=training_instance, instance_count=1),
        hyperparameters=hyperparameters,
        output_data_config=OutputDataConfig(s3_output_path=_run_path(settings, "model")),
        base_job_name=f"{settings.project}-train",
        role=settings.role_arn,
        networking=network.networking(isolated=True),
        sagemaker_session=session,
    )
    train = TrainingStep(
        name="TrainModel",
        description="Built-in XGBoost on the Parquet training split",
        step_args=trainer.train(
            input_data_config=[
                InputData(channel_name=channel, data_source=prepared_uri(channel), content_type=PARQUET)
                for channel in ("train", "validation")
            ]
        ),
    )
    model_data = train.properties.ModelArtifacts.S3ModelArtifacts

    report = PropertyFile(name="EvaluationReport", output_name="evaluation", path="evaluation.json")
    artifact = PropertyFile(name="ModelArtifact", output_name="evaluation", path="model-artifact.json")
    evaluate = ProcessingStep(
        name="EvaluateModel",
        description="Metrics on the test split, the predictions the model-quality baseline uses, the model's ETag",
        step_args=processor("evaluate", env={"MODEL_DATA_URL": model_data}).run(
            code=str(JOBS_DIR / "evaluate.py"),
            inputs=[
                _input("model", model_data, "/opt/ml/processing/model"),
                _input("test", prepared_uri("test"), "/opt/ml/processing/test"),
            ],
            outputs=[
                _output(name, f"/opt/ml/processing/output/{name}", _run_path(settings, name))
                for name in ("evaluation", "predictions")
            ],
        ),
        property_files=[report, artifact],
    )
    evaluation_uri = evaluate.properties.ProcessingOutputConfig.Outputs["evaluation"].S3Output.S3Uri
    predictions_uri = evaluate.properties.ProcessingOutputConfig.Outputs["predictions"].S3Output.S3Uri

    def metric(name: str) -> JsonGet:
        return JsonGet(
            step_name=evaluate.name, property_file=report, json_path=f"binary_classification_metrics.{name}.value"
        )

    # -- behind the gate: a model, its baselines, the registration ----------------------------------
    # One builder for both steps, as the SDK intends: build() settles the container definition that
    # register() then reuses (a fresh builder's register() adds empty script-mode variables, such as
    # SAGEMAKER_PROGRAM, which make the built-in algorithm's server look for a user script).
    trained_model = ModelBuilder(
        s3_model_data_url=model_data,
        image_uri=image,
        role_arn=settings.role_arn,
        network=network.networking(),
        sagemaker_session=session,
    )
    model = ModelStep(name="CreateModel", step_args=trained_model.build())

    model_quality = QualityCheckStep(
        name="ModelQualityBaseline",
        description="Model-quality constraints from the test predictions",
        quality_check_config=ModelQualityCheckConfig(
            baseline_dataset=predictions_uri,
            dataset_format=DatasetFormat.csv(header=True),
            output_s3_uri=_run_path(settings, "baselines", "model-quality"),
            problem_type=PROBLEM_TYPE,
            inference_attribute="prediction",
            probability_attribute="probability",
            ground_truth_attribute="label",
            probability_threshold_attribute=0.5,
        ),
        check_job_config=check_job("model-quality"),
        skip_check=skip_drift_checks,
        register_new_baseline=register_new_baselines,
        model_package_group_name=group,
    )

    def clarify_data(kind: str) -> DataConfig:
        return DataConfig(
            s3_data_input_path=prepared_uri("test"),
            s3_output_path=_run_path(settings, "baselines", kind),
            s3_analysis_config_output_path=f"{settings.output_root}/clarify-config/{config_digest()}/{kind}",
            label=label,
            headers=[label, *features],
            dataset_type=PARQUET,
        )

    def clarify_model() -> ModelConfig:
        return ModelConfig(
            model_name=model.properties.ModelName,
            instance_type="ml.m5.large",
            instance_count=1,
            content_type=CSV,
            accept_type=CSV,
        )

    bias = ClarifyCheckStep(
        name="ModelBiasBaseline",
        description=f"Post-training bias of the model's predictions across the {dataset['bias']['facet']!r} facet",
        clarify_check_config=ModelBiasCheckConfig(
            data_config=clarify_data("model-bias"),
            data_bias_config=BiasConfig(
                label_values_or_threshold=[dataset["bias"]["positive_label"]],
                facet_name=dataset["bias"]["facet"],
                facet_values_or_threshold=[dataset["bias"]["facet_threshold"]],
            ),
            model_config=clarify_model(),
            model_predicted_label_config=ModelPredictedLabelConfig(probability_threshold=0.5),
        ),
        check_job_config=check_job("model-bias"),
        skip_check=skip_drift_checks,
        register_new_baseline=register_new_baselines,
        model_package_group_name=group,
    )

    explainability = ClarifyCheckStep(
        name="ExplainabilityBaseline",
        description="SHAP feature attributions of the model",
        clarify_check_config=ModelExplainabilityCheckConfig(
            data_config=clarify_data("explainability"),
            model_config=clarify_model(),
            explainability_config=SHAPConfig(num_samples=100, agg_method="mean_abs", save_local_shap_values=False),
        ),
        check_job_config=check_job("explainability"),
        skip_check=skip_drift_checks,
        register_new_baseline=register_new_baselines,
        model_package_group_name=group,
    )

    def source(s3_uri, content_type: str = JSON) -> MetricsSource:
        return MetricsSource(s3_uri=s3_uri, content_type=content_type)

    model_metrics = ModelMetrics(
        model_statistics=source(Join(on="/", values=[evaluation_uri, "evaluation.json"])),
        model_constraints=source(model_quality.properties.CalculatedBaselineConstraints),
        model_data_statistics=source(data_quality.properties.CalculatedBaselineStatistics),
        model_data_constraints=source(data_quality.properties.CalculatedBaselineConstraints),
        bias_post_training=source(bias.properties.CalculatedBaselineConstraints),
        explainability=source(explainability.properties.CalculatedBaselineConstraints),
    )
    drift_check_baselines = DriftCheckBaselines(
        model_statistics=source(model_quality.properties.BaselineUsedForDriftCheckStatistics),
        model_constraints=source(model_quality.properties.BaselineUsedForDriftCheckConstraints),
        model_data_statistics=source(data_quality.properties.BaselineUsedForDriftCheckStatistics),
        model_data_constraints=source(data_quality.properties.BaselineUsedForDriftCheckConstraints),
        bias_config_file=FileSource(s3_uri=bias.clarify_check_config.monitoring_analysis_config_uri),
        bias_post_training_constraints=source(bias.properties.BaselineUsedForDriftCheckConstraints),
        explainability_config_file=FileSource(
            s3_uri=explainability.clarify_check_config.monitoring_analysis_config_uri
        ),
        explainability_constraints=source(explainability.properties.BaselineUsedForDriftCheckConstraints),
    )

    registration = trained_model.register(
        model_package_group_name=group,
        approval_status=naming.approval_status(settings.stage, settings.auto_approve_feature),
        content_types=[CSV],
        response_types=[CSV],
        inference_instances=["ml.m5.large", "ml.m5.xlarge"],
        transform_instances=["ml.m5.xlarge"],
        model_metrics=model_metrics,
        drift_check_baselines=drift_check_baselines,
        metadata_properties=MetadataProperties(
            commit_id=git_commit,
            repository=settings.repository,
            generated_by=ExecutionVariables.PIPELINE_EXECUTION_ARN,
        ),
        customer_metadata_properties=customer_metadata(
            settings,
            dataset_uri=input_data,
            dataset_version=dataset_version,
            commit=git_commit,
            branch=git_branch,
            hyperparameters=hyperparameters,
            metrics={name: Join(on="", values=[metric(name)]) for name in REPORTED_METRICS},
        ),
    )
    pin_model_data(registration, JsonGet(step_name=evaluate.name, property_file=artifact, json_path="etag"))
    register = ModelStep(name="RegisterModel", step_args=registration)

    below_threshold = FailStep(
        name="MetricBelowThreshold",
        error_message=Join(on=" ", values=[f"Test {GATE_METRIC}", metric(GATE_METRIC), "is below", metric_threshold]),
    )
    gate = ConditionStep(
        name="CheckMetric",
        description=f"Register only when the test {GATE_METRIC} reaches MetricThreshold",
        conditions=[ConditionGreaterThanOrEqualTo(left=metric(GATE_METRIC), right=metric_threshold)],
        if_steps=[model, model_quality, bias, explainability, register],
        else_steps=[below_threshold],
    )

    return Pipeline(
        name=name,
        parameters=[
            input_data,
            dataset_version,
            git_commit,
            git_branch,
            metric_threshold,
            processing_instance,
            training_instance,
            skip_drift_checks,
            register_new_baselines,
        ],
        steps=[prepare, data_quality, train, evaluate, gate],
        sagemaker_session=session,
    )


def pin_model_data(registration, etag) -> None:
    """Register the model pinned to the bytes the pipeline evaluated: ``ModelDataETag`` on its container.

    The SDK's ``register()`` has no argument for it, so it is set on the CreateModelPackage request the
    SDK captured (a pipeline property, resolved when the step runs). The platform's promoter deploys a
    package only while its artifact still has this ETag, and serves a verified copy of those bytes.
    """
    (container,) = registration.create_model_package_request["InferenceSpecification"]["Containers"]
    container["ModelDataETag"] = etag


def customer_metadata(
    settings: PipelineSettings, *, dataset_uri, dataset_version, commit, branch, hyperparameters, metrics
) -> dict:
    """The package's CustomerMetadataProperties: lineage, metrics, and what model-quality monitoring needs.

    The XGBoost endpoint answers with the positive-class probability alone, so the output's first
    (only) field is the probability and there is no separate predicted label.
    """
    metadata = {
        naming.META_COMMIT: commit,
        naming.META_BRANCH: branch,
        naming.META_DATASET_URI: dataset_uri,
        naming.META_DATASET_VERSION: dataset_version,
        naming.META_HYPERPARAMETERS: naming.hyperparameters_value(hyperparameters),
        naming.META_PROBLEM_TYPE: PROBLEM_TYPE,
        naming.META_PROBABILITY_ATTRIBUTE: "0",
        naming.META_PROBABILITY_THRESHOLD: PROBABILITY_THRESHOLD,
        **{f"{naming.META_METRIC_PREFIX}{name.capitalize()}": value for name, value in metrics.items()},
    }
    if settings.ground_truth_s3_uri:
        metadata[naming.META_GROUND_TRUTH] = naming.metadata_value(settings.ground_truth_s3_uri)
    return metadata
