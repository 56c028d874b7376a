"""Build what botocore only reads once built, once per test process instead of once per session or client.

The handler tests and the demo's test runs create thousands of clients: every test gives the handlers new
credentials, and a handler creates its clients, and assumes roles, as in a Lambda environment. botocore
builds for each client a service model, a parsed endpoint rule set and a client class, and for each session
a data loader that parses the service's JSON again. None of these is changed after it is built (their
caches aside), so one of each serves every client of the process; what a client keeps of its own
(credentials, region, event hooks, connections) is untouched. Each client also copies its session's event
handlers, hundreds of them, to add a few of its own: the copies share what they do not change.

:func:`install` is called by the handler tests' conftest and by ``python -m tests.handler_calls`` (the
demo's test runs); ``make demo`` itself runs on plain botocore.
"""

from __future__ import annotations

from typing import Any

import botocore.client
import botocore.hooks
import botocore.loaders
import botocore.regions
import botocore.session

_installed = False


def install() -> None:
    """Share loaders, service models, endpoint rule sets and client classes from now on (once per process)."""
    global _installed
    if _installed:
        return
    _installed = True
    _share_loaders()
    _share_service_models()
    _share_endpoint_providers()
    _share_client_classes()
    _share_unchanged_event_handlers()


def _share_loaders() -> None:
    """One data loader per data path: its cache of the parsed JSON models then serves every session."""
    create = botocore.loaders.create_loader
    loaders: dict[str | None, botocore.loaders.Loader] = {}

    def shared_loader(search_path_string=None):
        if search_path_string not in loaders:
            loaders[search_path_string] = create(search_path_string)
        return loaders[search_path_string]

    botocore.loaders.create_loader = shared_loader
    botocore.session.create_loader = shared_loader


def _share_service_models() -> None:
    """One ``ServiceModel`` per service and API version (its shapes and operations resolved once)."""
    load = botocore.client.ClientCreator._load_service_model
    models: dict[tuple, Any] = {}

    def shared_model(creator, service_name: str, api_version=None):
        key = (service_name, api_version)
        if key not in models:
            models[key] = load(creator, service_name, api_version)
        return models[key]

    botocore.client.ClientCreator._load_service_model = shared_model


def _share_endpoint_providers() -> None:
    """One ``EndpointProvider`` (a parsed endpoint rule set, with its cache of resolved endpoints) per rule set."""
    build = botocore.regions.EndpointProvider
    providers: dict[tuple, tuple] = {}

    def shared_provider(ruleset_data, partition_data, excluded_params=None):
        # The shared loaders hand out the same data objects, so their identity names them; the entry keeps
        # them alive, so an identity is never reused by other data.
        key = (id(ruleset_data), id(partition_data), frozenset(excluded_params or ()))
        if key not in providers:
            providers[key] = (ruleset_data, partition_data, build(ruleset_data, partition_data, excluded_params))
        return providers[key][2]

    botocore.regions.EndpointProvider = shared_provider


def _share_client_classes() -> None:
    """One client class per service, API version and ``creating-client-class`` handlers.

    botocore gives every client a class of its own, with a method per operation of the service. A client
    class holds only those methods and what the session's ``creating-client-class`` handlers add, so one
    class serves every client of the same service, API version and handlers.

    A handler is known by its code and what it closes over: boto3 registers its S3 (and DynamoDB, EC2)
    class handlers through ``lazy_call``, a new closure per session with the same code and target, which
    would otherwise build (and keep) one S3 class per session.
    """
    build = botocore.client.ClientCreator._create_client_class
    classes: dict[tuple, type] = {}

    def identity(handler) -> tuple:
        closure = tuple(repr(cell.cell_contents) for cell in getattr(handler, "__closure__", None) or ())
        code = getattr(handler, "__code__", None)
        return (code, closure) if code is not None else (handler, ())

    def shared_class(creator, service_name: str, service_model):
        emitter = getattr(creator._event_emitter, "_emitter", creator._event_emitter)
        event = f"creating-client-class.{service_model.service_id.hyphenize()}"
        handlers = tuple(identity(handler) for handler in emitter._handlers.prefix_search(event))
        key = (service_name, service_model.api_version, handlers)
        if key not in classes:
            classes[key] = build(creator, service_name, service_model)
        return classes[key]

    botocore.client.ClientCreator._create_client_class = shared_class


def _share_unchanged_event_handlers() -> None:
    """Copies of an event-handler trie share its nodes; adding a handler copies only the nodes on its path.

    botocore copies a session's whole trie of event handlers (``_PrefixTrie``, nested dicts) for every client
    it creates, and the client then registers a handful of handlers of its own. Here a copy starts as the same
    nodes, and no node is changed in place any more: adding a handler replaces the nodes from the root to its
    event with new ones, so every other copy still sees its own handlers only. Removing one (rare) first
    copies the whole trie, as botocore always did.
    """
    trie = botocore.hooks._PrefixTrie
    full_copy, remove = trie._recursive_copy, trie.remove_item

    def shared_copy(self):
        copied = trie.__new__(trie)
        copied._root = self._root
        return copied

    def append_item(self, key, value, section=botocore.hooks._MIDDLE):
        self._root = _with_handler(self._root, key.split("."), value, section)

    def remove_item(self, key, value):
        self._root = full_copy(self, self._root)
        remove(self, key, value)

    trie.__copy__, trie.append_item, trie.remove_item = shared_copy, append_item, remove_item


def _with_handler(node: dict, parts: list[str], value, section: int) -> dict:
    """A new node like ``node`` with ``value`` added in ``section`` under the event ``parts`` below it."""
    changed = dict(node)
    if not parts:
        handlers = node["values"] or botocore.hooks.NodeList([], [], [])
        changed["values"] = botocore.hooks.NodeList(*(list(kind) for kind in handlers))
        changed["values"][section].append(value)
        return changed
    child = node["children"].get(parts[0]) or {"chunk": parts[0], "values": None, "children": {}}
    changed["children"] = {**node["children"], parts[0]: _with_handler(child, parts[1:], value, section)}
    return changed
