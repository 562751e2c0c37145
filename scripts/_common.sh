# shellcheck shell=bash
# Shared helpers of scripts/demo, scripts/test and scripts/update_pot.
# Sourced, never run. Everything local lives in the git-ignored .odoo/ folder:
#   .odoo/addons/mrp_backflush -> repository root (Odoo finds the module there)
#   .odoo/*.rc                 Odoo configuration files written by the scripts
#   .odoo/data/                Odoo data dir (filestores, sessions)
#   .odoo/*.log, .odoo/logs/   install and bootstrap logs
#   .odoo/venv/                Python with Odoo 18.0 and the test tools
#   .odoo/src/odoo/            Odoo source, when cloned from a git URL
#   .odoo/node/                prettier and eslint (npm), pinned in NODE_TOOLS
#
# Environment:
#   PYTHON       interpreter that imports Odoo 18.0 (default: python3 when it
#                does, else .odoo/venv, built on first use)
#   ODOO_BIN     an Odoo 18.0 odoo-bin; its source tree is put first on PYTHONPATH
#   ODOO_SOURCE  where .odoo/venv takes Odoo from: a local folder or a git URL
#                (default: the official repository); ODOO_BRANCH (default 18.0)

MODULE=mrp_backflush
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
ODOO_STATE="$REPO_ROOT/.odoo"
ADDONS_LINK_DIR="$ODOO_STATE/addons"
DATA_DIR="$ODOO_STATE/data"
VENV_DIR="$ODOO_STATE/venv"
NODE_DIR="$ODOO_STATE/node"
# OCA's versions for 18.0 (oca-addons-repo-template); keep .pre-commit-config.yaml
# in step.
NODE_TOOLS=(prettier@3.3.3 @prettier/plugin-xml@3.4.1 eslint@9.12.0 globals@16.0.0)
PYTHON_SET="${PYTHON:+1}"
PYTHON="${PYTHON:-python3}"

info() { printf '==> %s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() {
    # die MESSAGE [EXIT_CODE]
    printf 'ERROR: %s\n' "$1" >&2
    exit "${2:-1}"
}

# Seconds since the epoch, for timings.
now() { date +%s; }

# ---------------------------------------------------------------------------
# Odoo
# ---------------------------------------------------------------------------
# Sets ODOO_VERSION, ODOO_PKG (the odoo package dir), ODOO_ADDONS_DIRS (comma
# separated), ODOO_CMD (array: how to run odoo-bin) and PYTHON. Which Odoo, in
# this order: ODOO_BIN or PYTHON when set; an Odoo 18.0 that python3 already
# imports; the virtual environment .odoo/venv, built on first use from
# ODOO_SOURCE (see bootstrap_odoo). Exits 2 with one sentence when none works.
find_odoo() {
    if [ -n "${ODOO_BIN:-}" ]; then
        [ -f "$ODOO_BIN" ] || die "ODOO_BIN=$ODOO_BIN is not a file: point it at the odoo-bin of an Odoo 18.0 checkout." 2
        local src
        src="$(cd "$(dirname "$ODOO_BIN")" && pwd -P)"
        export PYTHONPATH="$src${PYTHONPATH:+:$PYTHONPATH}"
    fi
    if [ -z "${PYTHON_SET:-}" ] && [ -z "${ODOO_BIN:-}" ] &&
        { [ -n "${ODOO_USE_VENV:-}" ] || ! odoo_probe >/dev/null; }; then
        bootstrap_odoo
        PYTHON="$VENV_DIR/bin/python"
    fi
    command -v "$PYTHON" >/dev/null 2>&1 ||
        die "There is no Python interpreter '$PYTHON': unset PYTHON to let the scripts build .odoo/venv." 2
    local out
    out="$(odoo_probe)" ||
        die "'$PYTHON' cannot import Odoo 18.0: unset PYTHON and ODOO_BIN to let the scripts build .odoo/venv from ODOO_SOURCE." 2
    local series
    ODOO_VERSION="$(sed -n 1p <<<"$out")"
    series="$(sed -n 2p <<<"$out")"
    ODOO_PKG="$(sed -n 3p <<<"$out")"
    if [ "$series" != "18.0" ]; then
        die "'$PYTHON' imports Odoo $ODOO_VERSION from $ODOO_PKG, not 18.0: set PYTHON or ODOO_BIN to an Odoo 18.0." 2
    fi
    local src_root dirs=() d
    src_root="$(dirname "$ODOO_PKG")"
    for d in "$ODOO_PKG/addons" "$src_root/addons"; do
        [ -d "$d" ] && dirs+=("$d")
    done
    ODOO_ADDONS_DIRS="$(IFS=,; echo "${dirs[*]}")"
    local found=""
    for d in "${dirs[@]}"; do
        [ -f "$d/mrp_account/__manifest__.py" ] && found=1
    done
    [ -n "$found" ] ||
        die "Odoo 18.0 at $src_root has no addons/mrp_account: use a full Odoo 18.0 source checkout (its addons/ folder is needed)." 2
    if [ -n "${ODOO_BIN:-}" ]; then
        ODOO_CMD=("$PYTHON" "$ODOO_BIN")
    elif [ -f "$src_root/odoo-bin" ]; then
        ODOO_CMD=("$PYTHON" "$src_root/odoo-bin")
    else
        ODOO_CMD=(env TZ=UTC "$PYTHON" -m odoo)
    fi
}

# Prints version, series and package folder of the Odoo that $PYTHON imports.
odoo_probe() {
    command -v "$PYTHON" >/dev/null 2>&1 || return 1
    "$PYTHON" - 2>/dev/null <<'EOF'
import os
import sys

try:
    import odoo
    from odoo import release
except Exception:  # noqa: BLE001 - any failure means "not importable"
    sys.exit(3)
print(release.version)
print(".".join(str(p) for p in release.version_info[:2]))
print(os.path.dirname(os.path.abspath(odoo.__file__)))
EOF
}

# step NAME LOG COMMAND...: run a long step with its output in LOG, print its
# stage and elapsed time; on failure name the step and its log.
step() {
    local name="$1" log="$2"
    shift 2
    local t0
    t0=$(now)
    info "$name (log: ${log#"$REPO_ROOT"/})"
    if ! "$@" >"$log" 2>&1; then
        tail -n 15 "$log" >&2
        die "Step '$name' failed after $(($(now) - t0))s: see $log."
    fi
    info "$name: done in $(($(now) - t0))s"
}

# Copy the working tree (tracked and untracked files, not the ignored ones such
# as .odoo/) into DIR/mrp_backflush: tools that take the add-on's name from its
# folder (whool, pylint-odoo) then see the right name, whatever the clone is
# called.
stage_addon() {
    local dest="$1/$MODULE"
    rm -rf "$dest"
    mkdir -p "$dest"
    if git -C "$REPO_ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        # --ignore-failed-read: files deleted but not yet committed are listed
        git -C "$REPO_ROOT" ls-files -z --cached --others --exclude-standard |
            tar -C "$REPO_ROOT" --null --ignore-failed-read -T - -cf - 2>/dev/null |
            tar -C "$dest" -xf -
    else
        tar -C "$REPO_ROOT" --exclude=./.odoo --exclude=./.git --exclude=__pycache__ \
            --exclude=./build --exclude=./dist -cf - . | tar -C "$dest" -xf -
    fi
    [ -f "$dest/__manifest__.py" ] || die "Could not copy the add-on into $dest."
}

# Files of the repository that match the shell patterns given (git's list when
# this is a git checkout, without ignored files), one per line.
repo_files() {
    if git -C "$REPO_ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git -C "$REPO_ROOT" ls-files --cached --others --exclude-standard -- "$@" |
            while IFS= read -r f; do [ -f "$REPO_ROOT/$f" ] && printf '%s\n' "$f"; done
    else
        local args=() p
        for p in "$@"; do args+=(${args[0]+-o} -name "$p"); done
        (cd "$REPO_ROOT" && find . -path ./.odoo -prune -o -type f \( "${args[@]}" \) -print |
            sed 's|^\./||')
    fi
}

# prettier, @prettier/plugin-xml and eslint (NODE_TOOLS) in .odoo/node, from the
# npm registry, once; node and npm come from the system (apt-get install npm).
ensure_node_tools() {
    local stamp="$NODE_DIR/.installed" want="${NODE_TOOLS[*]}"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
        ensure_system_packages npm
    fi
    mkdir -p "$NODE_DIR" "$ODOO_STATE/logs"
    rm -rf "$NODE_DIR/node_modules" "$stamp"
    step "Installing ${NODE_TOOLS[*]} into .odoo/node (npm)" "$ODOO_STATE/logs/npm.log" \
        npm install --prefix "$NODE_DIR" --no-audit --no-fund --no-save "${NODE_TOOLS[@]}"
    echo "$want" >"$stamp"
}

# node_tool NAME ARGS...: run a tool of .odoo/node; NODE_PATH lets the repository's
# prettier.config.cjs and eslint.config.cjs require the plugins installed there.
node_tool() {
    local name="$1"
    shift
    NODE_PATH="$NODE_DIR/node_modules" "$NODE_DIR/node_modules/.bin/$name" "$@"
}

# Build .odoo/venv with Odoo 18.0 and its requirements, once. The source comes
# from ODOO_SOURCE: a local Odoo 18.0 folder (used in place, never written) or
# a git URL (shallow clone of branch ODOO_BRANCH into .odoo/src/odoo).
bootstrap_odoo() {
    local source="${ODOO_SOURCE:-https://github.com/odoo/odoo.git}"
    local branch="${ODOO_BRANCH:-18.0}" src
    local base_python="${BOOTSTRAP_PYTHON:-python3}"
    if [ -f "$VENV_DIR/.bootstrap-done" ] && PYTHON="$VENV_DIR/bin/python" odoo_probe >/dev/null; then
        return 0
    fi
    mkdir -p "$ODOO_STATE/logs"
    command -v "$base_python" >/dev/null 2>&1 ||
        die "No python3 found: install Python 3.10 or newer (apt-get install python3 python3-venv)." 2
    "$base_python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
        die "Odoo 18.0 needs Python 3.10 or newer; $base_python is $("$base_python" -V 2>&1)." 2
    if [ -d "$source" ]; then
        src="$(cd "$source" && pwd -P)"
    else
        src="$ODOO_STATE/src/odoo"
        if [ ! -f "$src/odoo/release.py" ]; then
            command -v git >/dev/null 2>&1 || ensure_system_packages git
            rm -rf "$src"
            mkdir -p "$(dirname "$src")"
            step "Cloning Odoo $branch from $source (shallow)" "$ODOO_STATE/logs/clone.log" \
                git clone --depth 1 --branch "$branch" "$source" "$src"
        fi
    fi
    [ -f "$src/odoo/release.py" ] && [ -f "$src/requirements.txt" ] ||
        die "ODOO_SOURCE=$source is not an Odoo source tree (no odoo/release.py and requirements.txt)." 2
    if ! "$base_python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
        ensure_system_packages python3-venv
    fi
    rm -rf "$VENV_DIR"
    step "Creating the virtual environment .odoo/venv" "$ODOO_STATE/logs/venv.log" \
        "$base_python" -m venv "$VENV_DIR"
    # Known traps of Odoo's requirements.txt on a plain machine: psycopg2 and
    # python-ldap need C headers (binary psycopg2 wheel, LDAP left out), and old
    # sdists need a setuptools that still ships pkg_resources.
    local req="$ODOO_STATE/odoo-requirements.txt" cons="$ODOO_STATE/build-constraints.txt"
    sed -e 's/^psycopg2==/psycopg2-binary==/' -e '/^python-ldap/d' "$src/requirements.txt" >"$req"
    echo 'setuptools<80' >"$cons"
    step "Installing Odoo's requirements into .odoo/venv (a minute or two)" \
        "$ODOO_STATE/logs/requirements.log" \
        env PIP_CONSTRAINT="$cons" "$VENV_DIR/bin/python" -m pip install \
        --disable-pip-version-check -r "$req"
    # Odoo is used from its source folder, as `pip install -e` would, but
    # without writing into that folder.
    local site
    site="$("$VENV_DIR/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    echo "$src" >"$site/odoo-source.pth"
    PYTHON="$VENV_DIR/bin/python" odoo_probe >/dev/null ||
        die "The virtual environment .odoo/venv was built but cannot import Odoo from $src: see $ODOO_STATE/logs/requirements.log." 2
    touch "$VENV_DIR/.bootstrap-done"
}

# ensure_system_packages DEB...: apt-get install them (as root or with sudo),
# or say in one sentence what to install.
ensure_system_packages() {
    local sudo=()
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            die "Please install these system packages, then run this again: $*." 2
        fi
    fi
    command -v apt-get >/dev/null 2>&1 ||
        die "This is not a Debian/Ubuntu system: install these (or your system's equivalents), then run this again: $*." 2
    mkdir -p "$ODOO_STATE/logs"
    local log="$ODOO_STATE/logs/apt.log"
    info "Installing system packages: $*"
    if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >>"$log" 2>&1; then
        step "apt-get update" "$log.update" "${sudo[@]}" apt-get update -qq
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >>"$log" 2>&1 ||
            die "Step 'apt-get install $*' failed: see $log." 2
    fi
}

# The module is found through an addons path holding a folder named like it.
link_addon() {
    mkdir -p "$ADDONS_LINK_DIR" "$DATA_DIR"
    local link="$ADDONS_LINK_DIR/$MODULE"
    if [ -L "$link" ] && [ "$(readlink "$link")" = "$REPO_ROOT" ]; then
        return
    fi
    rm -rf "$link"
    ln -s "$REPO_ROOT" "$link"
}

# write_rc FILE DB [extra "key = value" lines...]
write_rc() {
    local rc="$1" db="$2"
    shift 2
    {
        echo "# Written by scripts/ of $MODULE; rewritten on each run."
        echo "[options]"
        echo "addons_path = $ODOO_ADDONS_DIRS,$ADDONS_LINK_DIR"
        echo "data_dir = $DATA_DIR"
        echo "db_name = $db"
        echo "dbfilter = ^$db\$"
        echo "list_db = False"
        echo "without_demo = False"
        local line
        for line in "$@"; do
            echo "$line"
        done
    } >"$rc"
}

# ---------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------
pg_ready() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q >/dev/null 2>&1
    else
        psql -d postgres -Atc 'select 1' >/dev/null 2>&1
    fi
}

# Run a command as the postgres OS user (from /, which it can read), without
# the caller's PGUSER/PGDATABASE.
as_postgres() {
    set -- env -u PGUSER -u PGDATABASE -u PGPASSWORD "$@"
    if [ "$(id -un)" = postgres ]; then
        (cd / && "$@")
    elif [ "$(id -u)" = 0 ]; then
        (cd / && su postgres -s /bin/sh -c "$(printf '%q ' "$@")")
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        (cd / && sudo -n -u postgres "$@")
    else
        return 1
    fi
}

ensure_postgres() {
    if ! command -v psql >/dev/null 2>&1 && ! command -v pg_ctlcluster >/dev/null 2>&1; then
        ensure_system_packages postgresql
    fi
    command -v psql >/dev/null 2>&1 ||
        die "PostgreSQL client tools are missing: install PostgreSQL (apt-get install postgresql) or put psql/createdb on PATH."
    pg_ready && return 0
    if ! command -v pg_ctlcluster >/dev/null 2>&1; then
        die "PostgreSQL is not running and pg_ctlcluster is not available: start your PostgreSQL server (or point PGHOST/PGPORT at one) and run this again."
    fi
    # The cluster on PGPORT if set, else 15/main, else the first one.
    local version="" cluster="" clusters=""
    clusters="$(pg_lsclusters -h 2>/dev/null || true)"
    if [ -n "${PGPORT:-}" ]; then
        read -r version cluster _ < <(awk -v p="$PGPORT" '$3 == p' <<<"$clusters") || true
    elif awk '{print $1" "$2}' <<<"$clusters" | grep -qx "15 main"; then
        version=15 cluster=main
    else
        read -r version cluster _ <<<"$clusters" || true
    fi
    [ -n "$version$cluster" ] ||
        die "PostgreSQL is not running and there is no cluster to start${PGPORT:+ on port $PGPORT}: create one (pg_createcluster 15 main) and run this again."
    info "Starting PostgreSQL cluster $version/$cluster"
    if [ "$(id -u)" = 0 ]; then
        pg_ctlcluster "$version" "$cluster" start || true
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n pg_ctlcluster "$version" "$cluster" start || true
    else
        pg_ctlcluster "$version" "$cluster" start || true
    fi
    local _
    for _ in $(seq 1 30); do
        pg_ready && return 0
        sleep 1
    done
    die "PostgreSQL cluster $version/$cluster did not start: see /var/log/postgresql/postgresql-$version-$cluster.log, or start it by hand (pg_ctlcluster $version $cluster start)."
}

# The browser tours (HttpCase) need a Chromium; Debian's package is
# installed when missing and we may (root with apt-get). Otherwise they skip.
ensure_chromium() {
    local exe
    for exe in chromium chromium-browser google-chrome; do
        command -v "$exe" >/dev/null 2>&1 && return 0
    done
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        info "Installing Debian's chromium for the browser tours"
        if apt-get install -y -qq chromium >/dev/null 2>&1 ||
            { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; }; then
            return 0
        fi
    fi
    echo "WARNING: no Chromium found (apt-get install chromium): the browser tours will be skipped." >&2
}

# Odoo connects as the current OS user (it refuses 'postgres').
ensure_db_role() {
    local user="${PGUSER:-$(id -un)}"
    if [ "$user" = postgres ]; then
        die "Odoo refuses to use the database user 'postgres': run this as another user (or set PGUSER)."
    fi
    if psql -d postgres -Atc 'select 1' >/dev/null 2>&1; then
        local can
        can="$(psql -d postgres -Atc 'select rolsuper or rolcreatedb from pg_roles where rolname = current_user')"
        [ "$can" = t ] ||
            die "The PostgreSQL role '$user' cannot create databases: ALTER ROLE \"$user\" CREATEDB (as postgres)."
        return 0
    fi
    info "Creating PostgreSQL role '$user'"
    as_postgres createuser --superuser "$user" ||
        die "Cannot create the PostgreSQL role '$user': as postgres, run: createuser --superuser $user"
    psql -d postgres -Atc 'select 1' >/dev/null ||
        die "The PostgreSQL role '$user' exists but cannot connect to the server (check pg_hba.conf)."
}

# Drop a database and its filestore (connections to it are closed).
drop_db() {
    local db="$1"
    dropdb --if-exists --force "$db" 2>/dev/null || dropdb --if-exists "$db"
    rm -rf "${DATA_DIR:?}/filestore/$db"
}

# install_module RC DB LOG [odoo options...]: fresh DB with the module.
# Demo data is loaded unless the options say otherwise. Returns odoo's status.
install_module() {
    local rc="$1" db="$2" log="$3"
    shift 3
    drop_db "$db"
    local status=0
    "${ODOO_CMD[@]}" -c "$rc" -d "$db" -i "$MODULE${INSTALL_WITH:+,$INSTALL_WITH}" --stop-after-init \
        --max-cron-threads=0 --no-http "$@" 2>&1 | tee "$log" || status=$?
    [ "$status" = 0 ] || return "$status"
    local state
    state="$(psql -d "$db" -Atc "select state from ir_module_module where name = '$MODULE'" 2>/dev/null || true)"
    if [ "$state" != installed ]; then
        echo "ERROR: $MODULE is '${state:-absent}' in database $db after the install, not 'installed'." >&2
        return 1
    fi
}

# True when the database was created with demo data.
has_demo_data() {
    [ "$(psql -d "$1" -Atc "select demo from ir_module_module where name = '$MODULE'" 2>/dev/null)" = t ]
}

# Log records of level WARNING or above in an Odoo log file.
log_problems() {
    grep -E '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:,]+ [0-9]+ (WARNING|ERROR|CRITICAL) ' "$1" || true
}
