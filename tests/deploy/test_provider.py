"""The package registers as an Airflow provider with six connection types and their forms.

Needs the project installed (``pip install --no-deps -e .``, done by ``make install``): Airflow finds
providers through the ``apache_airflow_provider`` entry point of installed distributions.
"""

from __future__ import annotations

import importlib
import importlib.util
from importlib import metadata
from typing import Any

import pytest
from airflow.providers_manager import (
    _create_customized_form_field_behaviours_schema_validator,
    _create_provider_info_schema_validator,
)

from erp_operators import provider_info
from erp_operators.provider_info import CONNECTION_TYPES, get_provider_info, read_extras, ui_field_behaviour

OUR_TYPES = ["streak", "quickbooks", "netsuite", "syspro", "dynamics_gp", "sage50"]
OWN_HOOKS = OUR_TYPES  # every hook takes its form from this provider info


@pytest.fixture(scope="module")
def providers_manager() -> Any:
    """Core's ProvidersManager, what the API server's connection form and Test button use."""
    from airflow.providers_manager import ProvidersManager

    return ProvidersManager()


def hook_class(conn_type: str) -> type:
    module_name, _, class_name = CONNECTION_TYPES[conn_type]["hook-class-name"].rpartition(".")
    if importlib.util.find_spec(module_name) is None:
        pytest.skip(f"{module_name} is not written yet (its issue adds it)")
    return getattr(importlib.import_module(module_name), class_name)


def test_provider_info_passes_airflows_schema() -> None:
    info = get_provider_info()

    _create_provider_info_schema_validator().validate(info)

    assert info["package-name"] == "streak-erp-sync"
    assert [entry["connection-type"] for entry in info["connection-types"]] == OUR_TYPES


@pytest.mark.parametrize("conn_type", OUR_TYPES)
def test_form_behaviour_passes_airflows_schema(conn_type) -> None:
    behaviour = ui_field_behaviour(conn_type)

    _create_customized_form_field_behaviours_schema_validator().validate(behaviour)

    named = set(behaviour["hidden_fields"]) | set(behaviour["relabeling"]) | set(behaviour["placeholders"])
    assert named <= set(provider_info.STANDARD_FIELDS), f"{conn_type}: extras belong in conn-fields"


def test_entry_point_is_installed() -> None:
    points = [
        ep
        for ep in metadata.entry_points(group="apache_airflow_provider")
        if ep.dist.name == "streak-erp-sync"
    ]

    assert [ep.value for ep in points] == ["erp_operators.provider_info:get_provider_info"], (
        "run `pip install --no-deps --no-build-isolation -e .` (make install)"
    )


def test_providers_manager_lists_our_connection_types(providers_manager) -> None:
    provider = providers_manager.providers["streak-erp-sync"]
    hooks = providers_manager.hooks

    assert provider.version == metadata.version("streak-erp-sync")
    assert [conn_type for conn_type in OUR_TYPES if conn_type in hooks] == OUR_TYPES


def test_task_runtime_discovers_our_hooks() -> None:
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    hooks = ProvidersManagerTaskRuntime().hooks

    assert [conn_type for conn_type in OUR_TYPES if conn_type in hooks] == OUR_TYPES
    assert hooks["sage50"].hook_class_name == CONNECTION_TYPES["sage50"]["hook-class-name"]


@pytest.mark.parametrize("conn_type", OWN_HOOKS)
def test_hook_info_resolves(providers_manager, conn_type) -> None:
    info = providers_manager.hooks[conn_type]

    assert info is not None, f"{conn_type}: hook failed to import (see the log)"
    assert info.hook_class_name == CONNECTION_TYPES[conn_type]["hook-class-name"]
    assert info.connection_testable
    assert info.hook_name == CONNECTION_TYPES[conn_type]["hook-name"]


@pytest.mark.parametrize("conn_type", OUR_TYPES)
def test_hook_class_matches_its_declaration(conn_type) -> None:
    cls = hook_class(conn_type)

    assert cls.conn_type == conn_type
    assert cls.hook_name == CONNECTION_TYPES[conn_type]["hook-name"]
    assert cls.default_conn_name == f"{conn_type}_default"
    assert callable(getattr(cls, "test_connection", None))


def test_connection_form_comes_from_provider_info(providers_manager) -> None:
    widgets = providers_manager._connection_form_widgets_from_metadata
    behaviours = providers_manager._field_behaviours_from_metadata

    for conn_type in OUR_TYPES:
        declared = CONNECTION_TYPES[conn_type]["conn-fields"]
        for name, spec in declared.items():
            widget = widgets[f"extra__{conn_type}__{name}"]
            assert widget.is_sensitive == (spec["schema"].get("format") == "password"), name
        assert behaviours[conn_type]["hidden_fields"] == ui_field_behaviour(conn_type)["hidden_fields"]
    assert widgets["extra__netsuite__token_secret"].is_sensitive
    assert widgets["extra__quickbooks__refresh_token"].is_sensitive
    assert not widgets["extra__netsuite__account_id"].is_sensitive


def test_ui_connection_form_metadata_lists_our_types() -> None:
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    by_type = {meta.connection_type: meta for meta in HookMetaService.hook_meta_data()}

    for conn_type in OUR_TYPES:
        meta = by_type[conn_type]
        assert meta.hook_name == CONNECTION_TYPES[conn_type]["hook-name"]
        assert set(meta.extra_fields or {}) == set(CONNECTION_TYPES[conn_type]["conn-fields"])
    assert by_type["netsuite"].standard_fields.login.title == "Consumer key"
    assert by_type["streak"].standard_fields.login.hidden


@pytest.mark.parametrize("conn_type", OWN_HOOKS)
def test_hook_fallback_behaviour_equals_provider_info(conn_type) -> None:
    assert hook_class(conn_type).get_ui_field_behaviour() == ui_field_behaviour(conn_type)


class _Conn:
    def __init__(self, extra: dict[str, Any]) -> None:
        self.conn_id = "demo"
        self.extra_dejson = extra


def test_read_extras_types_defaults_and_legacy_keys() -> None:
    values = read_extras(
        _Conn(
            {
                "verify_ssl": "false",
                "timeout": "12.5",
                "extra__syspro__company_id": "EDU1",
                "company_password": "",
            }
        ),
        "syspro",
    )

    assert values == {"company_id": "EDU1", "company_password": None, "verify_ssl": False, "timeout": 12.5}


@pytest.mark.parametrize(
    ("conn_type", "extra", "message"),
    [
        (
            "syspro",
            {"verify_ssl": "maybe"},
            "connection 'demo' extra 'verify_ssl' must be true or false, not 'maybe'",
        ),
        ("netsuite", {"timeout": "soon"}, "connection 'demo' extra 'timeout' must be a number, not 'soon'"),
        (
            "quickbooks",
            {"environment": "staging"},
            "connection 'demo' extra 'environment' must be one of sandbox, production, not 'staging'",
        ),
    ],
)
def test_read_extras_names_the_bad_field(conn_type, extra, message) -> None:
    with pytest.raises(ValueError) as excinfo:
        read_extras(_Conn(extra), conn_type)

    assert str(excinfo.value) == message
