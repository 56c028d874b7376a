"""The verified copy of a registered model into the target account, before its change set.

A package registers its model by location (``ModelDataUrl`` in the dev artifact store), by content
(``ModelDataETag``) and by image (``Image``, ``ImageDigest``). The promoter, as the stage's deploy
role, copies the artifact into the target account's model bucket with ``CopySourceIfMatch`` set to
the registered ETag, so S3 itself refuses the copy when the bytes under the URL are no longer the
registered ones; the endpoint template then serves that copy. A key names the content
(``<project>/<stage>/v<version>/<ETag>/model.tar.gz``) and is never overwritten (``IfNoneMatch``),
so a copy that already exists is the same model: copying again is a no-op.

The functions below are pure (tested exhaustively); :class:`ArtifactCopier` is the thin S3 part.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

import contract
from envelope import Rejection

#: An S3 ETag without its quotes: the MD5 of a single-part upload, or ``<md5>-<parts>`` for a multipart one.
ETAG = re.compile(r"^[0-9a-f]{32}(-[0-9]{1,5})?$")
#: An image digest that pins an image (``ImageDigest`` is free text in the registry).
IMAGE_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
S3_URL = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>.+)$")
#: The container fields a prod package must share with its tested dev source.
CONTENT_FIELDS = ("Image", "ImageDigest", "ModelDataUrl", "ModelDataETag")
#: Where registered models live in the artifact store: only the pipeline role writes such keys there.
PROJECTS_PREFIX = "projects/"
MODEL_ARTIFACT_SUFFIX = ".tar.gz"


@dataclass(frozen=True)
class RegisteredModel:
    """The one container a package registers: image (and digest, if any), artifact location and ETag."""

    image: str
    image_digest: str | None
    bucket: str
    key: str
    etag: str  # without quotes

    @property
    def served_image(self) -> str:
        """The image the endpoint runs: ``repository@sha256:...`` when a digest is registered, else as registered."""
        if not self.image_digest:
            return self.image
        repository = self.image.split("@", 1)[0]
        registry, _, path = repository.rpartition("/")
        return f"{registry}/{path.split(':', 1)[0]}@{self.image_digest}"

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class ServedModel:
    """What the endpoint template serves: the image and the key of the verified copy in the model bucket."""

    image: str
    key: str


def single_container(package: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The package's container, or None unless it registers exactly one."""
    containers = (package.get("InferenceSpecification") or {}).get("Containers") or []
    return containers[0] if len(containers) == 1 else None


def normalized_etag(etag: str | None) -> str:
    """An ETag as S3 (quoted) or a registration (either way) spells it, without quotes."""
    return (etag or "").strip().strip('"')


def registered_model(package: Mapping[str, Any]) -> RegisteredModel | Rejection:
    """What ``package`` (a ``DescribeModelPackage`` response) pins, or why it pins nothing the platform can serve."""
    arn = package.get("ModelPackageArn", "the package")
    container = single_container(package)
    if container is None:
        return Rejection(f"{arn} does not register exactly one container; the platform serves single-container models")
    image, url = container.get("Image") or "", container.get("ModelDataUrl") or ""
    etag, digest = normalized_etag(container.get("ModelDataETag")), container.get("ImageDigest") or None
    location = S3_URL.match(url)
    if not image or not location:
        return Rejection(f"{arn} registers no image or no s3:// ModelDataUrl (got {url!r})")
    if not location["key"].startswith(PROJECTS_PREFIX) or not location["key"].endswith(MODEL_ARTIFACT_SUFFIX):
        return Rejection(
            f"{arn}: {url} is not a {MODEL_ARTIFACT_SUFFIX} archive under the artifact store's {PROJECTS_PREFIX} "
            "prefix, where only the pipeline role writes model artifacts"
        )
    if not ETAG.match(etag):
        return Rejection(
            f"{arn} registers no valid ModelDataETag (got {container.get('ModelDataETag')!r}): its model bytes are "
            "not pinned; register it with the platform's project template"
        )
    if digest is not None and not IMAGE_DIGEST.match(digest):
        digest = None  # a free-text digest pins nothing; the registered image is served as registered
    return RegisteredModel(image, digest, location["bucket"], location["key"], etag)


def copy_key(deployment: contract.Deployment, version: int, etag: str) -> str:
    """The key of a verified copy in the model bucket: it names the content, so it is written once."""
    return f"{deployment.project}/{deployment.stage}/v{version}/{etag}/model.tar.gz"


def copy_request(
    model: RegisteredModel, *, bucket: str, key: str, source_account: str, target_account: str
) -> dict[str, Any]:
    """``CopyObject`` arguments: only the registered bytes, only into a new key, only between the named accounts.

    Encryption is the model bucket's default (the target account's key), so the request names no key.
    The bytes are what matters; the copy carries no tags.
    """
    return {
        "Bucket": bucket,
        "Key": key,
        "CopySource": f"{model.bucket}/{model.key}",  # botocore URL-encodes the key for the wire, once
        "CopySourceIfMatch": f'"{model.etag}"',
        "IfNoneMatch": "*",
        "ExpectedSourceBucketOwner": source_account,
        "ExpectedBucketOwner": target_account,
        "MetadataDirective": "COPY",
        "TaggingDirective": "REPLACE",  # no tags: copying a source's tags would need s3:GetObjectTagging on it
    }


def content_mismatches(package: Mapping[str, Any], source: Mapping[str, Any]) -> list[str]:
    """How a prod package's container differs from its source's (image, digest, artifact and ETag); empty if
    both register the same single container content."""
    mine, theirs = single_container(package), single_container(source)
    if mine is None or theirs is None:
        return ["both must register exactly one container"]
    differences = []
    for field in CONTENT_FIELDS:
        expected, actual = theirs.get(field), mine.get(field)
        if field == "ModelDataETag":
            expected, actual = normalized_etag(expected), normalized_etag(actual)
        if expected != actual:
            differences.append(f"{field} {actual!r} (source: {expected!r})")
    return differences


def mismatch_reason(model: RegisteredModel, actual_etag: str | None) -> str:
    """The refusal when the bytes under the registered URL are not the registered ones (or are gone)."""
    if actual_etag is None:
        return f"{model.url} is missing (registered ETag {model.etag}); not deploying"
    return f"ETag mismatch at {model.url}: registered {model.etag}, found {normalized_etag(actual_etag)}; not deploying"


class ArtifactCopier:
    """Copies a registered artifact with an S3 client of the target account's deploy role."""

    def __init__(self, s3) -> None:
        self._s3 = s3

    def copy(self, model: RegisteredModel, request: Mapping[str, Any]) -> Rejection | None:
        """Make the verified copy exist; a Rejection (ETag mismatch, missing source) if it cannot.

        ``412 PreconditionFailed`` means that the copy exists (``IfNoneMatch``) or that the source changed
        (``CopySourceIfMatch``), ``NoSuchKey`` that the source is gone: either way, an existing copy holds
        the registered bytes (its key names them and only this role writes the bucket), so a rollback to
        a version whose dev artifact has since changed or expired still deploys. Anything else, such as
        access denied, is raised: the message is retried and ends in the dead-letter queue.
        """
        try:
            self._s3.copy_object(**request)
            return None
        except ClientError as error:
            if error.response.get("Error", {}).get("Code", "") not in ("PreconditionFailed", "NoSuchKey", "404"):
                raise
        if self._etag_of(request["Bucket"], request["Key"], request["ExpectedBucketOwner"]) is not None:
            return None
        found = self._etag_of(model.bucket, model.key, request["ExpectedSourceBucketOwner"])
        return Rejection(mismatch_reason(model, found))

    def _etag_of(self, bucket: str, key: str, owner: str) -> str | None:
        try:
            return self._s3.head_object(Bucket=bucket, Key=key, ExpectedBucketOwner=owner)["ETag"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
