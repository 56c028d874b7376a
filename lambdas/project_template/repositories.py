"""Where a project's code lives: a small provider interface with CodeCommit and GitHub behind it.

Each provider can tell whether a repository exists, create one seeded with the template's files on
``prod`` with ``dev`` branched from it (completing whatever an earlier, interrupted attempt left
out), protect ``prod``, and archive a repository. Failures raise :class:`RepositoryError` whose
message is what CloudFormation shows the user: who refused what, and what to do about it.
"""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from contract import DEV_BRANCH, PROD_BRANCH
from project_template.decisions import commit_batches

logger = Logger()

COMMIT_AUTHOR = "MLOps platform"
COMMIT_EMAIL = "mlops-platform@noreply.local"
COMMIT_MESSAGE = "Project created from the {template} template"
#: CodeCommit's CreateCommit limits (CodeCommit quotas): 100 files, 6 MB of content in one commit.
CODECOMMIT_MAX_FILES = 100
CODECOMMIT_MAX_BYTES = 6 * 1024 * 1024
ARCHIVED_TAG = "mlops:archived"


class RepositoryError(RuntimeError):
    """The provider refused or failed; the message says why and what to do."""


class RepositoryExists(RepositoryError):
    """A repository of that name exists already."""


@dataclass(frozen=True)
class Repository:
    """A repository as the provider describes it."""

    name: str
    url: str
    description: str
    archived: bool = False


class Provider(Protocol):
    """What the project-template function needs of a git hosting service."""

    def exists(self, name: str) -> Repository | None: ...

    def create(self, name: str, files: Mapping[str, bytes], *, description: str, template: str) -> Repository: ...

    def protect(self, name: str) -> None: ...

    def set_variables(self, name: str, variables: Mapping[str, str]) -> None: ...

    def archive(self, name: str) -> None: ...


# --- CodeCommit -----------------------------------------------------------------------------------


def _code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


class CodeCommit:
    """Repositories in the dev account's CodeCommit.

    CodeCommit has no branch protection of its own (``prod`` is guarded by IAM: the persona roles
    deny pushes to ``refs/heads/prod`` where the platform says so) and no archived state: archiving
    tags the repository ``mlops:archived`` and marks its description, and the repository keeps
    accepting pushes from whoever IAM allows.
    """

    def __init__(self, client) -> None:
        self._client = client

    def exists(self, name: str) -> Repository | None:
        try:
            metadata = self._client.get_repository(repositoryName=name)["repositoryMetadata"]
        except ClientError as error:
            if _code(error) == "RepositoryDoesNotExistException":
                return None
            raise
        return self._repository(metadata)

    def create(self, name: str, files: Mapping[str, bytes], *, description: str, template: str) -> Repository:
        try:
            metadata = self._client.create_repository(repositoryName=name, repositoryDescription=description)[
                "repositoryMetadata"
            ]
        except ClientError as error:
            if _code(error) != "RepositoryNameExistsException":
                raise
            metadata = self._client.get_repository(repositoryName=name)["repositoryMetadata"]
        head = self._branch_head(name, PROD_BRANCH)
        if head is None:
            head = self._commit(name, files, COMMIT_MESSAGE.format(template=template))
        if self._branch_head(name, DEV_BRANCH) is None:
            self._client.create_branch(repositoryName=name, branchName=DEV_BRANCH, commitId=head)
        return self._repository(metadata)

    def protect(self, name: str) -> None:
        """Nothing to do in CodeCommit itself: IAM policies guard ``prod`` (see the class docstring)."""

    def set_variables(self, name: str, variables: Mapping[str, str]) -> None:
        """Nothing to store in CodeCommit: the project's CodeBuild project carries the CI variables."""

    def archive(self, name: str) -> None:
        metadata = self._client.get_repository(repositoryName=name)["repositoryMetadata"]
        self._client.tag_resource(resourceArn=metadata["Arn"], tags={ARCHIVED_TAG: "true"})
        description = metadata.get("repositoryDescription", "")
        if not description.startswith("[archived]"):
            self._client.update_repository_description(
                repositoryName=name, repositoryDescription=f"[archived] {description}"[:1000]
            )

    def _commit(self, name: str, files: Mapping[str, bytes], message: str) -> str:
        parent = None
        for batch in commit_batches(files, max_files=CODECOMMIT_MAX_FILES, max_bytes=CODECOMMIT_MAX_BYTES):
            request: dict[str, Any] = dict(
                repositoryName=name,
                branchName=PROD_BRANCH,
                authorName=COMMIT_AUTHOR,
                email=COMMIT_EMAIL,
                commitMessage=message,
                putFiles=[{"filePath": path, "fileContent": content, "fileMode": "NORMAL"} for path, content in batch],
            )
            if parent:
                request["parentCommitId"] = parent
            parent = self._client.create_commit(**request)["commitId"]
        if parent is None:
            raise RepositoryError("the project template has no files to commit")
        return parent

    def _branch_head(self, name: str, branch: str) -> str | None:
        try:
            return self._client.get_branch(repositoryName=name, branchName=branch)["branch"]["commitId"]
        except ClientError as error:
            if _code(error) == "BranchDoesNotExistException":
                return None
            raise

    @staticmethod
    def _repository(metadata: Mapping[str, Any]) -> Repository:
        description = metadata.get("repositoryDescription", "") or ""
        return Repository(
            metadata["repositoryName"],
            metadata["cloneUrlHttp"],
            description,
            archived=description.startswith("[archived]"),
        )


# --- GitHub ---------------------------------------------------------------------------------------

GITHUB_API_VERSION = "2022-11-28"
PAGE_SIZE = 100
HTTP_TIMEOUT_SECONDS = 20
SETTLE_ATTEMPTS = 4
_NEXT_LINK = re.compile(r'<([^>]+)>;\s*rel="next"')


@dataclass(frozen=True)
class GitHubResponse:
    status: int
    headers: Mapping[str, str]
    body: Any


def same_origin(url: str, api_url: str) -> bool:
    """Whether ``url`` is on the API's origin (scheme, host and port, no credentials in it): the only
    place the token may be sent to."""

    def origin(address: str) -> tuple[str, str, int | None] | None:
        parts = urllib.parse.urlsplit(address)
        if not parts.scheme or not parts.hostname or parts.username is not None:
            return None
        return parts.scheme.lower(), parts.hostname.lower(), parts.port or {"https": 443, "http": 80}.get(parts.scheme)

    try:
        own = origin(api_url)
        return own is not None and origin(url) == own
    except ValueError:  # a malformed port
        return False


def github_error(method: str, path: str, response: GitHubResponse) -> RepositoryError:
    """The error a failed GitHub call means, in words a project creator can act on."""
    status, headers = response.status, {k.lower(): v for k, v in response.headers.items()}
    body = response.body if isinstance(response.body, dict) else {}
    message = body.get("message", "")
    details = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in body.get("errors", []))
    call = f"GitHub {method} {path}"
    if status == 401:
        return RepositoryError(
            f"{call}: 401 {message or 'Bad credentials'}: the token in the platform's GitHub secret is invalid "
            "or expired; store a valid token and retry"
        )
    if status in (403, 429) and (headers.get("x-ratelimit-remaining") == "0" or "retry-after" in headers):
        wait = headers.get("retry-after")
        reset = headers.get("x-ratelimit-reset", "?")
        when = f"retry in {wait} s" if wait else f"the limit resets at epoch second {reset}"
        return RepositoryError(f"{call}: {status} rate limit exceeded ({message}); {when} and create the project again")
    if status == 403:
        return RepositoryError(
            f"{call}: 403 {message}: the token lacks a permission (repository administration and contents "
            "write in the organization; branch protection on private repositories needs a paid GitHub plan)"
        )
    if status == 404:
        return RepositoryError(
            f"{call}: 404 {message}: the organization or repository does not exist or the token cannot see it"
        )
    if status == 422 and "already exists" in f"{message} {details}".lower():
        return RepositoryExists(f"{call}: 422 {details or message}")
    return RepositoryError(f"{call}: {status} {message} {details}".rstrip())


class GitHub:
    """Private repositories in a GitHub (or GitHub Enterprise Server) organization, through the REST API.

    The repository is created with an initial commit (the Git data API refuses empty repositories);
    the template's files then become a root commit on ``prod``, ``dev`` points at it, ``prod``
    becomes the default branch and the initial branch is deleted. Archiving sets ``archived``
    (read-only, restorable by an organization owner).
    """

    #: Back-off unit while a new repository's initial commit becomes visible to the Git data API.
    settle_seconds = 1.0

    def __init__(self, *, api_url: str, organization: str, token: Callable[[], str]) -> None:
        self._api = api_url.rstrip("/")
        self._org = organization
        self._token = token

    # Interface

    def exists(self, name: str) -> Repository | None:
        response = self._request("GET", f"/repos/{self._org}/{name}", allow=(404,))
        return None if response.status == 404 else self._repository(response.body)

    def create(self, name: str, files: Mapping[str, bytes], *, description: str, template: str) -> Repository:
        repo = f"/repos/{self._org}/{name}"
        initial_branch = None
        existing = self.exists(name)
        if existing is None:
            created = self._request(
                "POST",
                f"/orgs/{self._org}/repos",
                {"name": name, "description": description, "private": True, "auto_init": True},
            ).body
            initial_branch = created.get("default_branch")
        branches = {branch["name"]: branch["commit"]["sha"] for branch in self._pages(f"{repo}/branches")}
        head = branches.get(PROD_BRANCH)
        if head is None:
            head = self._commit(repo, files, COMMIT_MESSAGE.format(template=template))
            self._request("POST", f"{repo}/git/refs", {"ref": f"refs/heads/{PROD_BRANCH}", "sha": head})
        if DEV_BRANCH not in branches:
            self._request("POST", f"{repo}/git/refs", {"ref": f"refs/heads/{DEV_BRANCH}", "sha": head})
        self._request("PATCH", repo, {"default_branch": PROD_BRANCH})
        if initial_branch and initial_branch not in (PROD_BRANCH, DEV_BRANCH):
            self._request("DELETE", f"{repo}/git/refs/heads/{initial_branch}", allow=(422,))
        return self._repository(self._request("GET", repo).body)

    def protect(self, name: str) -> None:
        """``prod`` changes only through reviewed pull requests, for administrators too."""
        self._request(
            "PUT",
            f"/repos/{self._org}/{name}/branches/{PROD_BRANCH}/protection",
            {
                "required_status_checks": None,
                "enforce_admins": True,
                "required_pull_request_reviews": {"required_approving_review_count": 1},
                "restrictions": None,
            },
        )

    def set_variables(self, name: str, variables: Mapping[str, str]) -> None:
        """The repository's Actions variables the workflow reads: created, or updated where they exist
        (GitHub answers 409 to creating an existing one), so a retried or updated project converges."""
        for variable, value in sorted(variables.items()):
            body = {"name": variable, "value": value}
            created = self._request("POST", f"/repos/{self._org}/{name}/actions/variables", body, allow=(409, 422))
            if created.status in (409, 422):
                self._request("PATCH", f"/repos/{self._org}/{name}/actions/variables/{variable}", body)

    def archive(self, name: str) -> None:
        self._request("PATCH", f"/repos/{self._org}/{name}", {"archived": True})

    # Git data

    def _commit(self, repo: str, files: Mapping[str, bytes], message: str) -> str:
        if not files:
            raise RepositoryError("the project template has no files to commit")
        tree = []
        for index, path in enumerate(sorted(files)):
            blob = self._request(
                "POST",
                f"{repo}/git/blobs",
                {"content": base64.b64encode(files[path]).decode("ascii"), "encoding": "base64"},
                settle=index == 0,  # a repository just created may not show its initial commit yet
            ).body
            tree.append({"path": path, "mode": "100644", "type": "blob", "sha": blob["sha"]})
        tree_sha = self._request("POST", f"{repo}/git/trees", {"tree": tree}).body["sha"]
        return self._request("POST", f"{repo}/git/commits", {"message": message, "tree": tree_sha, "parents": []}).body[
            "sha"
        ]

    # HTTP

    def _pages(self, path: str) -> Iterator[dict[str, Any]]:
        """Every item of a listing, following the ``Link: <...>; rel="next"`` headers on the API's own
        origin only: the token goes with every request, so a link elsewhere ends the listing there."""
        url: str | None = f"{self._api}{path}?per_page={PAGE_SIZE}"
        while url:
            response = self._send("GET", url, None)
            if response.status != 200:
                raise github_error("GET", path, response)
            yield from response.body
            match = _NEXT_LINK.search(response.headers.get("Link", "") or response.headers.get("link", ""))
            url = match.group(1) if match else None
            if url and not same_origin(url, self._api):
                logger.warning(
                    "Next page link not on the GitHub API's origin; not followed, the listing ends here",
                    extra={"listing": path, "link": url, "api": self._api},
                )
                url = None

    def _request(
        self, method: str, path: str, body: Any = None, *, allow: tuple[int, ...] = (), settle: bool = False
    ) -> GitHubResponse:
        """One call; with ``settle``, a 409 "Git Repository is empty" is retried a few times with back-off."""
        attempts = SETTLE_ATTEMPTS if settle else 1
        for attempt in range(attempts):
            response = self._send(method, f"{self._api}{path}", body)
            if response.status != 409 or attempt == attempts - 1:
                break
            time.sleep(self.settle_seconds * (attempt + 1))
        if response.status >= 300 and response.status not in allow:
            raise github_error(method, path, response)
        return response

    def _send(self, method: str, url: str, body: Any) -> GitHubResponse:
        request = urllib.request.Request(
            url,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {self._token()}",
                "X-GitHub-Api-Version": GITHUB_API_VERSION,
                "User-Agent": "mlops-platform-project-template",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
                return GitHubResponse(response.status, dict(response.headers), _json(response.read()))
        except urllib.error.HTTPError as error:
            return GitHubResponse(error.code, dict(error.headers), _json(error.read()))
        except (urllib.error.URLError, TimeoutError) as error:
            reason = getattr(error, "reason", error)
            raise RepositoryError(f"cannot reach GitHub at {self._api}: {reason}") from error

    @staticmethod
    def _repository(body: Mapping[str, Any]) -> Repository:
        url = body.get("clone_url") or body.get("html_url", "")
        return Repository(body["name"], url, body.get("description") or "", bool(body.get("archived")))


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return {"message": raw[:200].decode(errors="replace")}


#: How long a read GitHub token is reused: long enough for one project's requests, short enough that
#: a rotated token is picked up by a warm Lambda environment within minutes.
TOKEN_REUSE_SECONDS = 300


def github_token(secretsmanager, secret_name: str, clock: Callable[[], float] = time.monotonic) -> Callable[[], str]:
    """A function returning the token stored in ``secret_name`` (plain text or JSON ``{"token": ...}``),
    read again after ``TOKEN_REUSE_SECONDS`` so that rotating the secret needs no redeployment."""
    cache: list[tuple[float, str]] = []

    def token() -> str:
        if cache and clock() - cache[0][0] < TOKEN_REUSE_SECONDS:
            return cache[0][1]
        try:
            value = secretsmanager.get_secret_value(SecretId=secret_name)["SecretString"]
        except ClientError as error:
            raise RepositoryError(
                f"cannot read the GitHub token secret {secret_name}: {_code(error)}; create it in Secrets Manager"
            ) from error
        if value.lstrip().startswith("{"):
            value = json.loads(value).get("token", "")
        if not value.strip():
            raise RepositoryError(f"the GitHub token secret {secret_name} is empty")
        cache[:] = [(clock(), value.strip())]
        return cache[0][1]

    return token
