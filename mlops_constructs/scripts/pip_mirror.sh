#!/bin/bash
# JupyterLab lifecycle configuration of the platform's Studio domain: points pip at the platform's
# CodeArtifact mirror of PyPI, since the VPC-only domain has no route to pypi.org.
#
# The index URL carries a CodeArtifact token, which lasts at most 12 hours. The script writes it once
# when the app starts and then refreshes it every MIRROR_REFRESH_SECONDS from a background loop that
# lives as long as the app (no cron in Studio images), so terminals and notebooks' %pip always find a
# valid token in the user's pip.conf. A failed refresh is logged and retried at the next interval.
#
# The platform prepends MIRROR_DOMAIN, MIRROR_DOMAIN_OWNER, MIRROR_REPOSITORY and MIRROR_REGION.
set -euo pipefail

export MIRROR_DOMAIN MIRROR_DOMAIN_OWNER MIRROR_REPOSITORY MIRROR_REGION
export MIRROR_REFRESH_SECONDS="${MIRROR_REFRESH_SECONDS:-21600}"
export MIRROR_TOKEN_SECONDS=43200
export PIP_MIRROR_CONFIG="${HOME}/.config/pip/pip.conf"
MIRROR_LOG="${HOME}/.pip-mirror.log"

# Called where `set -e` does not apply (after ||), so every step checks its own failure.
write_pip_config() {
    local token endpoint location temporary
    token="$(aws codeartifact get-authorization-token --region "$MIRROR_REGION" --domain "$MIRROR_DOMAIN" \
        --domain-owner "$MIRROR_DOMAIN_OWNER" --duration-seconds "$MIRROR_TOKEN_SECONDS" \
        --query authorizationToken --output text)" || return 1
    endpoint="$(aws codeartifact get-repository-endpoint --region "$MIRROR_REGION" --domain "$MIRROR_DOMAIN" \
        --domain-owner "$MIRROR_DOMAIN_OWNER" --repository "$MIRROR_REPOSITORY" --format pypi \
        --query repositoryEndpoint --output text)" || return 1
    location="${endpoint#https://}"
    mkdir -p "$(dirname "$PIP_MIRROR_CONFIG")" || return 1
    temporary="$(mktemp "${PIP_MIRROR_CONFIG}.XXXXXX")" || return 1  # readable by its owner only
    printf '[global]\nindex-url = https://aws:%s@%s/simple/\n' "$token" "${location%/}" >"$temporary" || return 1
    mv -f "$temporary" "$PIP_MIRROR_CONFIG" || return 1
    echo "$(date -u +%FT%TZ) pip index set to the ${MIRROR_REPOSITORY} repository of ${MIRROR_DOMAIN}"
}
export -f write_pip_config

# An app whose first login fails still starts (pip then fails with an authentication error); the loop retries.
write_pip_config >>"$MIRROR_LOG" 2>&1 || echo "pip mirror not configured yet; see ${MIRROR_LOG}" >&2
nohup bash -c 'while sleep "$MIRROR_REFRESH_SECONDS"; do write_pip_config || echo "refresh failed"; done' \
    >>"$MIRROR_LOG" 2>&1 &
