"""Test-only fakes for the project-template function: what moto lacks, GitHub, and CloudFormation's answer URL.

- :func:`install_moto_stand_ins` adds to moto the CodeCommit operations it does not implement
  (``CreateCommit``, ``GetBranch``, ``CreateBranch``, ``TagResource``, ``UpdateRepositoryDescription``)
  and SageMaker's ``PutModelPackageGroupPolicy`` / ``GetModelPackageGroupPolicy``, with the documented
  errors the function relies on (missing branch, outdated parent commit, more than 100 files).
- SageMaker's ``CreateProject`` / ``DescribeProject`` (a project record only: no product is launched);
  :func:`put_sagemaker_project` puts a project in any state SageMaker reports.
- :class:`FakeGitHub` is an HTTP server on localhost speaking the parts of GitHub's REST API the
  function uses: documented paths, status codes, ``Link`` pagination, rate-limit headers.
- :class:`ResponseCatcher` receives the PUT a custom resource sends to CloudFormation's ResponseURL.

Nothing outside the tests uses them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from moto.codecommit.models import codecommit_backends
from moto.codecommit.responses import CodeCommitResponse
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse

from tests.lambdas.events import DEV, REGION

# --- moto stand-ins ---------------------------------------------------------------------------------


class _Git:
    """One repository's branches and commits (each commit a full snapshot of the files)."""

    def __init__(self) -> None:
        self.branches: dict[str, str] = {}
        self.commits: dict[str, dict[str, Any]] = {}
        self.tags: dict[str, str] = {}

    def files(self, branch: str) -> dict[str, bytes]:
        return dict(self.commits[self.branches[branch]]["files"])


def git_state(account: str = DEV, region: str = REGION) -> dict[str, _Git]:
    """The stand-in's repositories of an account (name -> :class:`_Git`)."""
    backend = codecommit_backends[account][region]
    return backend.__dict__.setdefault("stand_in_git", {})


def _repository(response: CodeCommitResponse) -> tuple[str, _Git]:
    name = response._get_param("repositoryName")
    response.codecommit_backend.get_repository(name)  # RepositoryDoesNotExistException as in AWS
    return name, git_state(response.current_account, response.region).setdefault(name, _Git())


def _create_commit(self: CodeCommitResponse) -> str:
    _, git = _repository(self)
    branch, parent = self._get_param("branchName"), self._get_param("parentCommitId")
    head = git.branches.get(branch)
    if head and not parent:
        raise JsonRESTError("ParentCommitIdRequiredException", "A parent commit ID is required")
    if parent and parent != head:
        raise JsonRESTError("ParentCommitIdOutdatedException", f"{parent} is not the tip of {branch}")
    put_files = self._get_param("putFiles") or []
    if len(put_files) > 100:
        raise JsonRESTError("MaximumFileEntriesExceededException", "at most 100 files per commit")
    files = dict(git.commits[head]["files"]) if head else {}
    for entry in put_files:
        files[entry["filePath"]] = base64.b64decode(entry["fileContent"])
    commit_id = hashlib.sha1(uuid.uuid4().bytes).hexdigest()
    git.commits[commit_id] = {"parent": parent, "files": files, "message": self._get_param("commitMessage")}
    git.branches[branch] = commit_id
    return json.dumps({"commitId": commit_id, "treeId": commit_id[::-1], "filesAdded": [], "filesUpdated": []})


def _get_branch(self: CodeCommitResponse) -> str:
    _, git = _repository(self)
    branch = self._get_param("branchName")
    if branch not in git.branches:
        raise JsonRESTError("BranchDoesNotExistException", f"{branch} does not exist")
    return json.dumps({"branch": {"branchName": branch, "commitId": git.branches[branch]}})


def _create_branch(self: CodeCommitResponse) -> str:
    _, git = _repository(self)
    branch, commit = self._get_param("branchName"), self._get_param("commitId")
    if branch in git.branches:
        raise JsonRESTError("BranchNameExistsException", f"{branch} exists")
    if commit not in git.commits:
        raise JsonRESTError("CommitDoesNotExistException", f"{commit} does not exist")
    git.branches[branch] = commit
    return "{}"


def _tag_resource(self: CodeCommitResponse) -> str:
    name = self._get_param("resourceArn").rpartition(":")[2]
    self.codecommit_backend.get_repository(name)
    git_state(self.current_account, self.region).setdefault(name, _Git()).tags.update(self._get_param("tags"))
    return "{}"


def _update_repository_description(self: CodeCommitResponse) -> str:
    name = self._get_param("repositoryName")
    self.codecommit_backend.get_repository(name)
    self.codecommit_backend.repositories[name].repository_metadata["repositoryDescription"] = self._get_param(
        "repositoryDescription"
    )
    return "{}"


def _put_group_policy(self: SageMakerResponse) -> ActionResult:
    group = self.sagemaker_backend.describe_model_package_group(self._get_param("ModelPackageGroupName"))
    group.stand_in_policy = self._get_param("ResourcePolicy")
    return ActionResult({"ModelPackageGroupArn": group.arn})


def _get_group_policy(self: SageMakerResponse) -> ActionResult:
    group = self.sagemaker_backend.describe_model_package_group(self._get_param("ModelPackageGroupName"))
    policy = getattr(group, "stand_in_policy", None)
    if policy is None:
        raise ValidationError(f"Cannot find resource policy for {group.arn}")
    return ActionResult({"ResourcePolicy": policy})


def sagemaker_projects(account: str = DEV, region: str = REGION) -> dict[str, dict[str, Any]]:
    """The stand-in's SageMaker projects of an account (name -> DescribeProject answer)."""
    backend = sagemaker_backends[account][region]
    return backend.__dict__.setdefault("stand_in_projects", {})


def put_sagemaker_project(name: str, project_id: str, status: str, account: str = DEV, region: str = REGION) -> str:
    """SageMaker's record of a project in ``status`` (``ProjectStatus``), as SageMaker keeps it while
    Service Catalog works on the project's stack; returns the project's ARN."""
    arn = f"arn:aws:sagemaker:{region}:{account}:project/{name}"
    sagemaker_projects(account, region)[name] = {
        "ProjectArn": arn,
        "ProjectName": name,
        "ProjectId": project_id,
        "ProjectStatus": status,
    }
    return arn


def _create_project(self: SageMakerResponse) -> ActionResult:
    name = self._get_param("ProjectName")
    if name in sagemaker_projects(self.current_account, self.region):
        raise ValidationError(f"Project {name} already exists")
    project_id = "p-" + uuid.uuid4().hex[:12]
    arn = put_sagemaker_project(name, project_id, "CreateInProgress", self.current_account, self.region)
    return ActionResult({"ProjectArn": arn, "ProjectId": project_id})


def _describe_project(self: SageMakerResponse) -> ActionResult:
    name = self._get_param("ProjectName")
    project = sagemaker_projects(self.current_account, self.region).get(name)
    if project is None:
        raise ValidationError(f"Project {name} does not exist")
    return ActionResult(project)


def install_moto_stand_ins(monkeypatch) -> None:
    """Register the stand-ins for one test (moto dispatches an operation to the method of its name)."""
    for name, method in {
        "create_commit": _create_commit,
        "get_branch": _get_branch,
        "create_branch": _create_branch,
        "tag_resource": _tag_resource,
        "update_repository_description": _update_repository_description,
    }.items():
        monkeypatch.setattr(CodeCommitResponse, name, method, raising=False)
    monkeypatch.setattr(SageMakerResponse, "put_model_package_group_policy", _put_group_policy, raising=False)
    monkeypatch.setattr(SageMakerResponse, "get_model_package_group_policy", _get_group_policy, raising=False)
    monkeypatch.setattr(SageMakerResponse, "create_project", _create_project, raising=False)
    monkeypatch.setattr(SageMakerResponse, "describe_project", _describe_project, raising=False)


# --- Local HTTP servers -----------------------------------------------------------------------------


class _LocalServer:
    """An HTTP server on 127.0.0.1 in a daemon thread; ``url`` is its base URL."""

    def __init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, payload = owner.answer(self.command, self.path, dict(self.headers), body)
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, Any]:
        raise NotImplementedError

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class ResponseCatcher(_LocalServer):
    """Plays the pre-signed S3 URL CloudFormation gives a custom resource: records each PUT."""

    def __init__(self) -> None:
        self.responses: list[dict[str, Any]] = []
        super().__init__()

    def answer(self, method, path, headers, body):
        if method != "PUT":
            return 405, {}, None
        self.responses.append(json.loads(body))
        return 200, {}, None


class FakeGitHub(_LocalServer):
    """GitHub's REST API for one organization, as far as the function uses it.

    Documented behaviour reproduced: 401 without a valid token; 404 for unknown repositories; 422
    "name already exists on this account"; 409 "Git Repository is empty" from the Git data API before
    the first commit (hence ``auto_init``); 422 "Reference already exists"; paginated branch lists
    with ``Link: <...>; rel="next"``; rate limiting as 403 with ``x-ratelimit-remaining: 0`` or 429
    with ``retry-after``; repository Actions variables: 201 on creation, 409 "Already exists" for an
    existing name, 204 on update (PATCH), 404 updating an unknown one.
    """

    def __init__(self, organization: str, token: str, page_size: int = 2) -> None:
        self.organization, self.token, self.page_size = organization, token, page_size
        self.repos: dict[str, dict[str, Any]] = {}
        self.objects: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.rate_limit: str | None = None  # None, "primary" (403) or "secondary" (429)
        self.settling = 0  # this many Git data calls still see a new repository as empty (409)
        self.link_origin: str | None = None  # where ``Link`` headers point; None: this server
        super().__init__()

    @property
    def api_url(self) -> str:
        return self.url

    # Inspection

    def files(self, repo: str, branch: str) -> dict[str, bytes]:
        """The files at the tip of ``branch``."""
        tree = self.objects[self.objects[self.repos[repo]["branches"][branch]]["tree"]]
        return {entry["path"]: self.objects[entry["sha"]]["content"] for entry in tree["tree"]}

    def add_repository(self, name: str, description: str = "", branches: dict[str, str] | None = None) -> None:
        self.repos[name] = {
            "description": description,
            "archived": False,
            "default_branch": "main",
            "branches": dict(branches or {}),
            "protection": {},
            "variables": {},
        }

    # Server

    def answer(self, method, path, headers, body):
        url = urlparse(path)
        self.calls.append((method, url.path))
        if headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {}, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
        if self.rate_limit == "primary":
            reset = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1767225600"}
            return 403, reset, {"message": "API rate limit exceeded for installation ID 1."}
        if self.rate_limit == "secondary":
            return 429, {"retry-after": "60"}, {"message": "You have exceeded a secondary rate limit."}
        request = json.loads(body) if body else {}
        parts = url.path.strip("/").split("/")
        if parts[:1] == ["orgs"] and parts[2:] == ["repos"] and method == "POST":
            return self._create_repo(parts[1], request)
        if parts[:1] != ["repos"] or len(parts) < 3 or parts[1] != self.organization:
            return 404, {}, {"message": "Not Found"}
        repo = self.repos.get(parts[2])
        if repo is None:
            return 404, {}, {"message": "Not Found"}
        rest = parts[3:]
        if not rest:
            if method == "PATCH":
                repo.update({k: v for k, v in request.items() if k in ("default_branch", "archived", "description")})
            return 200, {}, self._repo_body(parts[2])
        if repo["archived"] and method != "GET":
            return 403, {}, {"message": "Repository was archived so is read-only."}
        if rest == ["branches"] and method == "GET":
            return self._branches(parts[2], parse_qs(url.query))
        if rest[:1] == ["branches"] and rest[2:] == ["protection"] and method == "PUT":
            if rest[1] not in repo["branches"]:
                return 404, {}, {"message": "Branch not found"}
            repo["protection"][rest[1]] = request
            return 200, {}, {"url": f"{self.url}{url.path}"}
        if rest[:1] == ["git"]:
            return self._git(repo, rest[1:], method, request)
        if rest[:2] == ["actions", "variables"]:
            return self._variables(repo, rest[2:], method, request)
        return 404, {}, {"message": "Not Found"}

    @staticmethod
    def _variables(repo: dict, rest: list[str], method: str, request: dict) -> tuple[int, dict, Any]:
        variables = repo["variables"]
        if not rest and method == "POST":
            if request["name"] in variables:
                return 409, {}, {"message": "Already exists - Variable already exists"}
            variables[request["name"]] = request["value"]
            return 201, {}, {}
        if len(rest) == 1 and method == "PATCH":
            if rest[0] not in variables:
                return 404, {}, {"message": "Not Found"}
            variables[rest[0]] = request["value"]
            return 204, {}, None
        return 404, {}, {"message": "Not Found"}

    def _create_repo(self, org: str, request: dict) -> tuple[int, dict, Any]:
        if org != self.organization:
            return 404, {}, {"message": "Not Found"}
        name = request["name"]
        if name in self.repos:
            return (
                422,
                {},
                {
                    "message": "Repository creation failed.",
                    "errors": [
                        {
                            "resource": "Repository",
                            "code": "custom",
                            "field": "name",
                            "message": "name already exists on this account",
                        }
                    ],
                },
            )
        self.add_repository(name, request.get("description", ""))
        if request.get("auto_init"):
            readme = self._store({"type": "blob", "content": f"# {name}\n".encode()})
            tree = self._store({"type": "tree", "tree": [{"path": "README.md", "sha": readme}]})
            self.repos[name]["branches"]["main"] = self._store({"type": "commit", "tree": tree, "parents": []})
        return 201, {}, self._repo_body(name)

    def _branches(self, name: str, query: dict) -> tuple[int, dict, Any]:
        per_page = min(int(query.get("per_page", ["30"])[0]), self.page_size)
        page = int(query.get("page", ["1"])[0])
        branches = sorted(self.repos[name]["branches"].items())
        chunk = branches[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(branches):
            listing = f"{self.link_origin or self.url}/repos/{self.organization}/{name}/branches?per_page={per_page}"
            headers["Link"] = f'<{listing}&page={page + 1}>; rel="next", <{listing}&page=1>; rel="first"'
        return 200, headers, [{"name": b, "commit": {"sha": sha}, "protected": False} for b, sha in chunk]

    def _git(self, repo: dict, rest: list[str], method: str, request: dict) -> tuple[int, dict, Any]:
        if not repo["branches"] or self.settling > 0:
            self.settling -= 1
            return 409, {}, {"message": "Git Repository is empty."}
        if rest == ["blobs"] and method == "POST":
            assert request["encoding"] == "base64"
            return 201, {}, {"sha": self._store({"type": "blob", "content": base64.b64decode(request["content"])})}
        if rest == ["trees"] and method == "POST":
            entries = request["tree"]
            if any(e["sha"] not in self.objects or e["mode"] not in ("100644", "100755") for e in entries):
                return 422, {}, {"message": "Invalid tree info"}
            return 201, {}, {"sha": self._store({"type": "tree", "tree": entries})}
        if rest == ["commits"] and method == "POST":
            if request["tree"] not in self.objects:
                return 422, {}, {"message": "Tree SHA does not exist"}
            return (
                201,
                {},
                {"sha": self._store({"type": "commit", "tree": request["tree"], "parents": request["parents"]})},
            )
        if rest == ["refs"] and method == "POST":
            branch = request["ref"].removeprefix("refs/heads/")
            if branch in repo["branches"]:
                return 422, {}, {"message": "Reference already exists"}
            if request["sha"] not in self.objects:
                return 422, {}, {"message": "Object does not exist"}
            repo["branches"][branch] = request["sha"]
            return 201, {}, {"ref": request["ref"], "object": {"sha": request["sha"], "type": "commit"}}
        if rest[:2] == ["refs", "heads"] and method == "DELETE":
            if repo["branches"].pop("/".join(rest[2:]), None) is None:
                return 422, {}, {"message": "Reference does not exist"}
            return 204, {}, None
        return 404, {}, {"message": "Not Found"}

    def _store(self, obj: dict[str, Any]) -> str:
        sha = hashlib.sha1(repr(sorted(obj.items())).encode() + uuid.uuid4().bytes).hexdigest()
        self.objects[sha] = obj
        return sha

    def _repo_body(self, name: str) -> dict[str, Any]:
        repo = self.repos[name]
        return {
            "name": name,
            "full_name": f"{self.organization}/{name}",
            "private": True,
            "description": repo["description"],
            "archived": repo["archived"],
            "default_branch": repo["default_branch"],
            "html_url": f"https://github.com/{self.organization}/{name}",
            "clone_url": f"https://github.com/{self.organization}/{name}.git",
        }


# --- Requests ---------------------------------------------------------------------------------------

FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{DEV}:function:mlops-project-template"


def custom_resource_event(
    request_type: str,
    *,
    response_url: str,
    name: str = "churn",
    project_id: str = "p-8xk2mzq0abcd",
    variables: dict[str, str] | None = None,
    **fields,
) -> dict[str, Any]:
    """A request as CloudFormation sends it for the product's ``Custom::ProjectTemplate`` resource
    (``variables``: the ``RepositoryVariables`` a GitHub project's stack passes)."""
    properties = {"ServiceToken": FUNCTION_ARN, "ServiceTimeout": "600", "ProjectName": name, "ProjectId": project_id}
    if variables is not None:
        properties["RepositoryVariables"] = variables
    event = {
        "RequestType": request_type,
        "ServiceToken": FUNCTION_ARN,
        "ResponseURL": f"{response_url}/cloudformation-custom-resource-response-euwest1/{uuid.uuid4()}",
        "StackId": f"arn:aws:cloudformation:{REGION}:{DEV}:stack/SC-{DEV}-pp-{uuid.uuid4().hex[:13]}/{uuid.uuid4()}",
        "RequestId": str(uuid.uuid4()),
        "LogicalResourceId": "ProjectTemplate",
        "ResourceType": "Custom::ProjectTemplate",
        "ResourceProperties": properties,
    }
    if request_type in ("Update", "Delete"):
        event["PhysicalResourceId"] = name
    if request_type == "Update":
        event["OldResourceProperties"] = dict(properties)
    event.update(fields)
    return event


class LambdaContext:
    """The parts of a Lambda context the function reads: its name and the time it has left."""

    function_name = "mlops-project-template"
    memory_limit_in_mb = 256
    invoked_function_arn = FUNCTION_ARN
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"

    def __init__(self, remaining_ms: int = 300_000) -> None:
        self._remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining_ms
