"""The pipeline a push defines and starts, generated offline and asserted step by step.

Each push runs ``pipelines.run`` against moto: the SDK builds the definition (uploading the job code
and configuration to the moto bucket), upserts the pipeline and starts it. The definition asserted
here is the one SageMaker would receive.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from unittest import mock

import boto3
import pytest
from botocore.client import BaseClient
from moto import mock_aws
from sagemaker.core.telemetry import telemetry_logging

from pipelines import naming, run
from tests.offline import BUCKET, JOB_SECURITY_GROUP, JOB_SUBNETS, PROJECT, REGION, ROLE_ARN, ROOT

GROUND_TRUTH = f"s3://{BUCKET}/projects/{PROJECT}/ground-truth/"
REPOSITORY = "https://git.example.com/churn.git"


@dataclass(frozen=True)
class Push:
    """What one push left behind: the upserted definition, the started execution, the uploads, the calls."""

    pipeline_name: str
    definition: dict
    parameters: dict[str, str]
    objects: dict[str, bytes]
    calls: frozenset[str]

    @property
    def steps(self) -> dict[str, dict]:
        """Every step by name, the gate's branches included."""
        found = {}
        for step in self.definition["Steps"]:
            found[step["Name"]] = step
            for nested in step["Arguments"].get("IfSteps", []) + step["Arguments"].get("ElseSteps", []):
                found[nested["Name"]] = nested
        return found

    @property
    def registration(self) -> dict:
        return self.steps["RegisterModel"]["Arguments"]


def push(branch: str, monkeypatch, **environment: str) -> Push:
    """Run the CI entry point for ``branch`` against moto and collect what it did."""
    calls: set[str] = set()
    original = BaseClient._make_api_call

    def recorded(client, operation, params):
        calls.add(f"{client.meta.service_model.service_name}:{operation}")
        return original(client, operation, params)

    def no_telemetry(*args, **kwargs):
        raise AssertionError("the SDK tried to send telemetry")

    for name, value in {
        "PROJECT_NAME": PROJECT,
        "AWS_REGION": REGION,
        "SAGEMAKER_PIPELINE_ROLE_ARN": ROLE_ARN,
        "ARTIFACT_BUCKET": BUCKET,
        **environment,
    }.items():
        monkeypatch.setenv(name, value)
    with (
        mock_aws(),
        mock.patch.object(BaseClient, "_make_api_call", recorded),
        mock.patch.object(telemetry_logging, "_send_telemetry_request", no_telemetry),
    ):
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        s3.put_object(
            Bucket=BUCKET, Key=f"data/{PROJECT}/dataset.csv", Body=(ROOT / "data" / "sample.csv").read_bytes()
        )
        ssm = boto3.client("ssm", region_name=REGION)
        subnets_parameter, group_parameter = naming.job_network_parameters("mlops")
        ssm.put_parameter(Name=subnets_parameter, Type="StringList", Value=",".join(JOB_SUBNETS))
        ssm.put_parameter(Name=group_parameter, Type="String", Value=JOB_SECURITY_GROUP)
        calls.clear()

        run.main(["--branch", branch, "--commit", "0123456789abcdef0123456789abcdef01234567"])
        made = frozenset(calls)

        sagemaker = boto3.client("sagemaker", region_name=REGION)
        (summary,) = sagemaker.list_pipelines()["PipelineSummaries"]
        name = summary["PipelineName"]
        (execution,) = sagemaker.list_pipeline_executions(PipelineName=name)["PipelineExecutionSummaries"]
        parameters = sagemaker.list_pipeline_parameters_for_execution(
            PipelineExecutionArn=execution["PipelineExecutionArn"]
        )["PipelineParameters"]
        objects = {
            item["Key"]: s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            for item in s3.list_objects_v2(Bucket=BUCKET)["Contents"]
        }
        return Push(
            pipeline_name=name,
            definition=json.loads(sagemaker.describe_pipeline(PipelineName=name)["PipelineDefinition"]),
            parameters={parameter["Name"]: parameter["Value"] for parameter in parameters},
            objects=objects,
            calls=made,
        )


@pytest.fixture(scope="module")
def pushes():
    """One push to a feature branch (feature auto-approval on) and one to dev (auto-approval on too,
    which must not apply there; ground truth and repository given). Each definition takes seconds."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        feature = push("feature-better-trees", monkeypatch, AUTO_APPROVE_FEATURE="true")
    with pytest.MonkeyPatch.context() as monkeypatch:
        dev = push(
            "dev", monkeypatch, AUTO_APPROVE_FEATURE="true", GROUND_TRUTH_S3_URI=GROUND_TRUTH, GIT_REPOSITORY=REPOSITORY
        )
    return {"feature": feature, "dev": dev}


@pytest.fixture(params=["feature", "dev"])
def pushed(request, pushes) -> Push:
    return pushes[request.param]


def references(value) -> set[str]:
    """Names of the steps whose properties ``value`` (a step's arguments) reads."""
    text = json.dumps(value)
    return set(re.findall(r'"Steps\.([A-Za-z]+)[.\[]', text))


# -- what a push does -------------------------------------------------------------------------------


def test_each_training_branch_has_its_own_pipeline(pushes):
    assert pushes["feature"].pipeline_name == f"{PROJECT}-feature-training"
    assert pushes["dev"].pipeline_name == f"{PROJECT}-dev-training"


def test_the_execution_carries_the_push_lineage(pushes):
    for branch, pushed in [("feature-better-trees", pushes["feature"]), ("dev", pushes["dev"])]:
        assert pushed.parameters["GitBranch"] == branch
        assert pushed.parameters["GitCommit"] == "0123456789abcdef0123456789abcdef01234567"
        assert pushed.parameters["InputDataUrl"] == f"s3://{BUCKET}/data/{PROJECT}/dataset.csv"
        assert re.fullmatch(r"[0-9a-f-]{36}", pushed.parameters["DatasetVersion"])  # the S3 version id


def test_a_push_calls_only_s3_and_the_pipeline_apis(pushed):
    """Generating the definition calls no SageMaker, IAM or STS API (role validation and telemetry
    are off): only the platform's job network parameters, the SDK's look-up and uploads to the artifact
    bucket. The push then reads the dataset's version, creates the pipeline and starts it."""
    assert pushed.calls == {
        "ssm:GetParameters",
        "s3:ListBuckets",
        "s3:PutObject",
        "s3:HeadObject",
        "sagemaker:CreatePipeline",
        "sagemaker:StartPipelineExecution",
    }


def test_everything_is_written_under_the_project_prefix(pushed):
    uploaded = [key for key in pushed.objects if not key.startswith("data/")]
    assert uploaded and all(key.startswith(f"projects/{PROJECT}/") for key in uploaded)
    uris = set(re.findall(r's3://[^"]+', json.dumps(pushed.definition)))
    dataset = f"s3://{BUCKET}/data/{PROJECT}/dataset.csv"
    assert all(uri.startswith(f"s3://{BUCKET}/projects/{PROJECT}/") or uri == dataset for uri in uris), uris


# -- the steps ----------------------------------------------------------------------------------------


def test_steps_and_the_gate_branches(pushed):
    top = [step["Name"] for step in pushed.definition["Steps"]]
    assert top == ["PrepareData", "DataQualityBaseline", "TrainModel", "EvaluateModel", "CheckMetric"]
    gate = pushed.steps["CheckMetric"]["Arguments"]
    assert [step["Name"] for step in gate["IfSteps"]] == [
        "CreateModel",
        "ModelQualityBaseline",
        "ModelBiasBaseline",
        "ExplainabilityBaseline",
        "RegisterModel",
    ]
    assert [step["Name"] for step in gate["ElseSteps"]] == ["MetricBelowThreshold"]
    assert {name: step["Type"] for name, step in pushed.steps.items()} == {
        "PrepareData": "Processing",
        "DataQualityBaseline": "QualityCheck",
        "TrainModel": "Training",
        "EvaluateModel": "Processing",
        "CheckMetric": "Condition",
        "CreateModel": "Model",
        "ModelQualityBaseline": "QualityCheck",
        "ModelBiasBaseline": "ClarifyCheck",
        "ExplainabilityBaseline": "ClarifyCheck",
        "RegisterModel": "RegisterModel",
        "MetricBelowThreshold": "Fail",
    }


def test_data_dependencies(pushed):
    """Each step reads the outputs of exactly these steps, so SageMaker orders them this way."""
    steps = pushed.steps
    depends = {name: references({k: v for k, v in step.items() if k != "Name"}) for name, step in steps.items()}
    depends["CheckMetric"] = references(steps["CheckMetric"]["Arguments"]["Conditions"])
    assert depends == {
        "PrepareData": set(),
        "DataQualityBaseline": {"PrepareData"},
        "TrainModel": {"PrepareData"},
        "EvaluateModel": {"PrepareData", "TrainModel"},
        "CheckMetric": {"EvaluateModel"},
        "CreateModel": {"TrainModel"},
        "ModelQualityBaseline": {"EvaluateModel"},
        "ModelBiasBaseline": {"PrepareData", "CreateModel"},
        "ExplainabilityBaseline": {"PrepareData", "CreateModel"},
        "RegisterModel": {
            "TrainModel",
            "EvaluateModel",
            "DataQualityBaseline",
            "ModelQualityBaseline",
            "ModelBiasBaseline",
            "ExplainabilityBaseline",
        },
        "MetricBelowThreshold": {"EvaluateModel"},
    }


def test_preparation_runs_the_shipped_script_with_the_shipped_configuration(pushed):
    arguments = pushed.steps["PrepareData"]["Arguments"]
    inputs = {item["InputName"]: item["S3Input"] for item in arguments["ProcessingInputs"]}
    assert inputs["dataset"]["S3Uri"] == {"Get": "Parameters.InputDataUrl"}
    code_key = inputs["code"]["S3Uri"].removeprefix(f"s3://{BUCKET}/")
    assert pushed.objects[code_key] == (ROOT / "jobs" / "preprocess.py").read_bytes()
    config_prefix = inputs["config"]["S3Uri"].removeprefix(f"s3://{BUCKET}/")
    for name in ("dataset.json", "pii.json"):
        assert pushed.objects[f"{config_prefix}/{name}"] == (ROOT / "config" / name).read_bytes()
    outputs = [output["OutputName"] for output in arguments["ProcessingOutputConfig"]["Outputs"]]
    assert outputs == ["curated", "train", "validation", "test", "baseline"]


def test_training_is_built_in_xgboost_on_parquet_with_the_configured_hyperparameters(pushed):
    arguments = pushed.steps["TrainModel"]["Arguments"]
    assert arguments["AlgorithmSpecification"]["TrainingImage"].endswith("/sagemaker-xgboost:3.0-5")
    assert arguments["HyperParameters"] == json.loads((ROOT / "config" / "hyperparameters.json").read_text())
    assert {channel["ChannelName"]: channel["ContentType"] for channel in arguments["InputDataConfig"]} == {
        "train": "application/x-parquet",
        "validation": "application/x-parquet",
    }


def test_gate_compares_the_evaluated_auc_with_the_threshold_parameter(pushed):
    (condition,) = pushed.steps["CheckMetric"]["Arguments"]["Conditions"]
    assert condition == {
        "Type": "GreaterThanOrEqualTo",
        "LeftValue": {
            "Std:JsonGet": {
                "PropertyFile": {"Get": "Steps.EvaluateModel.PropertyFiles.EvaluationReport"},
                "Path": "binary_classification_metrics.auc.value",
            }
        },
        "RightValue": {"Get": "Parameters.MetricThreshold"},
    }
    (threshold,) = [p for p in pushed.definition["Parameters"] if p["Name"] == "MetricThreshold"]
    assert threshold == {"Name": "MetricThreshold", "Type": "Float", "DefaultValue": 0.7}
    report = {"PropertyFileName": "EvaluationReport", "OutputName": "evaluation", "FilePath": "evaluation.json"}
    assert report in pushed.steps["EvaluateModel"]["PropertyFiles"]


# -- the registration -------------------------------------------------------------------------------


def test_registration_target_and_status_per_branch(pushes):
    feature, dev = pushes["feature"].registration, pushes["dev"].registration
    assert feature["ModelPackageGroupName"] == f"{PROJECT}-feature"
    assert feature["ModelApprovalStatus"] == "Approved"  # AUTO_APPROVE_FEATURE=true
    assert dev["ModelPackageGroupName"] == f"{PROJECT}-dev"
    assert dev["ModelApprovalStatus"] == "PendingManualApproval"  # whatever AUTO_APPROVE_FEATURE says


def test_registration_serves_the_trained_artifact_over_csv(pushed):
    spec = pushed.registration["InferenceSpecification"]
    (container,) = spec["Containers"]
    assert container["ModelDataUrl"] == {"Get": "Steps.TrainModel.ModelArtifacts.S3ModelArtifacts"}
    # pinned to the bytes the evaluation read: their ETag, recorded by the evaluation job
    assert container["ModelDataETag"] == {
        "Std:JsonGet": {
            "PropertyFile": {"Get": "Steps.EvaluateModel.PropertyFiles.ModelArtifact"},
            "Path": "etag",
        }
    }
    evaluation = pushed.steps["EvaluateModel"]
    assert evaluation["Arguments"]["Environment"] == {
        "MODEL_DATA_URL": {"Get": "Steps.TrainModel.ModelArtifacts.S3ModelArtifacts"}
    }
    assert {"PropertyFileName": "ModelArtifact", "OutputName": "evaluation", "FilePath": "model-artifact.json"} in (
        evaluation["PropertyFiles"]
    )
    assert container["Image"].endswith("/sagemaker-xgboost:3.0-5")
    # The built-in algorithm's server imports any SAGEMAKER_PROGRAM it is given, even an empty one.
    assert "SAGEMAKER_PROGRAM" not in container.get("Environment", {})
    assert "SAGEMAKER_PROGRAM" not in pushed.steps["CreateModel"]["Arguments"]["PrimaryContainer"].get(
        "Environment", {}
    )
    assert spec["SupportedContentTypes"] == spec["SupportedResponseMIMETypes"] == ["text/csv"]


def test_lineage_and_monitoring_metadata(pushes):
    def metric(name):
        return {
            "Std:Join": {
                "On": "",
                "Values": [
                    {
                        "Std:JsonGet": {
                            "PropertyFile": {"Get": "Steps.EvaluateModel.PropertyFiles.EvaluationReport"},
                            "Path": f"binary_classification_metrics.{name}.value",
                        }
                    }
                ],
            }
        }

    expected = {
        "GitCommit": {"Get": "Parameters.GitCommit"},
        "GitBranch": {"Get": "Parameters.GitBranch"},
        "DatasetS3Uri": {"Get": "Parameters.InputDataUrl"},
        "DatasetVersion": {"Get": "Parameters.DatasetVersion"},
        "Hyperparameters": "eta=0.2 eval_metric=auc max_depth=4 min_child_weight=1 num_round=100"
        " objective=binary:logistic subsample=0.8",
        "MetricAuc": metric("auc"),
        "MetricAccuracy": metric("accuracy"),
        "MetricF1": metric("f1"),
        "ProblemType": "BinaryClassification",
        "ProbabilityAttribute": "0",
        "ProbabilityThreshold": "0.5",
    }
    assert pushes["feature"].registration["CustomerMetadataProperties"] == expected
    assert pushes["dev"].registration["CustomerMetadataProperties"] == {**expected, "GroundTruthS3Uri": GROUND_TRUTH}
    for value in pushes["dev"].registration["CustomerMetadataProperties"].values():
        if isinstance(value, str):
            naming.metadata_value(value)  # what the registry accepts (moto does not check)

    assert pushes["feature"].registration["MetadataProperties"] == {
        "CommitId": {"Get": "Parameters.GitCommit"},
        "GeneratedBy": {"Get": "Execution.PipelineExecutionArn"},
    }
    assert pushes["dev"].registration["MetadataProperties"]["Repository"] == REPOSITORY


def test_drift_check_baselines_are_what_the_platform_monitor_reads(pushed):
    baselines = pushed.registration["DriftCheckBaselines"]

    def drift(step, name):
        return {"ContentType": "application/json", "S3Uri": {"Get": f"Steps.{step}.BaselineUsedForDriftCheck{name}"}}

    assert baselines["ModelDataQuality"] == {
        "Statistics": drift("DataQualityBaseline", "Statistics"),
        "Constraints": drift("DataQualityBaseline", "Constraints"),
    }
    assert baselines["ModelQuality"]["Constraints"] == drift("ModelQualityBaseline", "Constraints")
    assert baselines["Bias"]["PostTrainingConstraints"] == drift("ModelBiasBaseline", "Constraints")
    assert baselines["Explainability"]["Constraints"] == drift("ExplainabilityBaseline", "Constraints")
    assert set(baselines) == {"ModelDataQuality", "ModelQuality", "Bias", "Explainability"}


def test_monitoring_config_files_are_uploaded_and_describe_the_model(pushed, dataset_config):
    baselines = pushed.registration["DriftCheckBaselines"]
    bias = json.loads(pushed.objects[baselines["Bias"]["ConfigFile"]["S3Uri"].removeprefix(f"s3://{BUCKET}/")])
    assert bias["label"] == dataset_config["label"]
    assert bias["facet"] == [{"name_or_index": "age", "value_or_threshold": [40]}]
    assert bias["label_values_or_threshold"] == [1]
    explainability = json.loads(
        pushed.objects[baselines["Explainability"]["ConfigFile"]["S3Uri"].removeprefix(f"s3://{BUCKET}/")]
    )
    assert explainability["headers"] == list(dataset_config["features"])
    assert "shap" in explainability["methods"]


def test_model_metrics_show_the_evaluation_and_the_computed_baselines(pushed):
    metrics = pushed.registration["ModelMetrics"]

    def calculated(step, name):
        return {"ContentType": "application/json", "S3Uri": {"Get": f"Steps.{step}.CalculatedBaseline{name}"}}

    assert metrics["ModelQuality"]["Statistics"]["S3Uri"] == {
        "Std:Join": {
            "On": "/",
            "Values": [
                {"Get": "Steps.EvaluateModel.ProcessingOutputConfig.Outputs['evaluation'].S3Output.S3Uri"},
                "evaluation.json",
            ],
        }
    }
    assert metrics["ModelQuality"]["Constraints"] == calculated("ModelQualityBaseline", "Constraints")
    assert metrics["ModelDataQuality"] == {
        "Statistics": calculated("DataQualityBaseline", "Statistics"),
        "Constraints": calculated("DataQualityBaseline", "Constraints"),
    }
    assert metrics["Bias"]["PostTrainingReport"] == calculated("ModelBiasBaseline", "Constraints")
    assert metrics["Explainability"]["Report"] == calculated("ExplainabilityBaseline", "Constraints")


def test_checks_compute_baselines_in_the_branch_group(pushed):
    group = pushed.registration["ModelPackageGroupName"]
    for name in ("DataQualityBaseline", "ModelQualityBaseline", "ModelBiasBaseline", "ExplainabilityBaseline"):
        step = pushed.steps[name]
        assert step["ModelPackageGroupName"] == group
        assert step["SkipCheck"] == {"Get": "Parameters.SkipDriftChecks"}
        assert step["RegisterNewBaseline"] == {"Get": "Parameters.RegisterNewBaselines"}
    for name in ("ModelBiasBaseline", "ExplainabilityBaseline"):
        assert pushed.steps[name]["ModelName"] == {"Get": "Steps.CreateModel.ModelName"}


# -- the network ---------------------------------------------------------------------------------------

JOB_STEP_TYPES = {"Processing", "Training", "Transform", "QualityCheck", "ClarifyCheck"}
#: Steps whose jobs need no network: their code calls nothing, SageMaker moves their data.
NETWORK_ISOLATED = {"PrepareData", "TrainModel"}


def test_every_job_runs_in_the_platform_vpc_with_encrypted_traffic(pushed):
    """The subnets and security group are the ones the platform published in SSM (moto here); the
    platform denies creating any job, or the model Clarify and batch transforms use, without them."""
    in_vpc = {"Subnets": list(JOB_SUBNETS), "SecurityGroupIds": [JOB_SECURITY_GROUP]}
    jobs = {name: step["Arguments"] for name, step in pushed.steps.items() if step["Type"] in JOB_STEP_TYPES}
    assert set(jobs) == {
        "PrepareData",
        "DataQualityBaseline",
        "TrainModel",
        "EvaluateModel",
        "ModelQualityBaseline",
        "ModelBiasBaseline",
        "ExplainabilityBaseline",
    }
    for name, arguments in jobs.items():
        network = arguments.get("NetworkConfig") or arguments  # training requests carry the keys at the top
        assert network["VpcConfig"] == in_vpc, name
        assert network["EnableInterContainerTrafficEncryption"] is True, name
        assert network["EnableNetworkIsolation"] is (name in NETWORK_ISOLATED), name
    assert pushed.steps["CreateModel"]["Arguments"]["VpcConfig"] == in_vpc
