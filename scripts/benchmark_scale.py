#!/usr/bin/env python3
# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Mark Done in the background at scale, on a real Odoo server (issue #28).

Many confirmed MOs (--mos, default 1000, of --components components each,
default 20, all reserved) are marked done from the list the way a person
does it: Odoo's server action *Mark as Done* runs with the whole selection
as ``active_ids``, above the company's background threshold, so the module
queues them (``mrp.production._backflush_queue_mark_done``). Then a real
server (``odoo-bin --workers=N``) does the background work, and the script
polls the database until no MO is queued any more. Each run is one of:

  cron:N       without queue_job: the scheduled action *Backflush: Mark Done
               in the background* (batches of 20), ``--workers=N
               --max-cron-threads=N``. Odoo runs one job of a given scheduled
               action at a time, so N should not change the time.
  queue_job:N  with OCA's queue_job: one job per batch of 20 in the channel
               ``root.mrp_backflush``, ``--workers=N --max-cron-threads=0
               --load=base,web,queue_job`` and the channels
               ``root:N,root.mrp_backflush:N`` (``ODOO_QUEUE_JOB_CHANNELS``).

Figures per run: the request that queues them (in this process), the
background time from that request's commit until every MO is processed
(0.5 s polling), MOs per second, the 1-minute load average before the
server starts (other work on the machine), the machine's CPU use during the
background time (all cores, /proc/stat), the server's own CPU seconds, how
many processes ran batches ("runners": cron workers from the server log,
queue_job's worker_pid), "parallel" (the time of all batches over the
background time: about 1 when they go one after the other) and, with
queue_job, the attempts rolled back by a concurrency error and run again.

All MOs are of one BOM by default, so batches running side by side consume
the same components (the same quants and FIFO valuation layers); with
--boms K the MOs are spread over K BOMs sharing no component, batch k of
BOM k modulo K, so that side by side batches touch different rows.

Odoo runs cron workers at nice 10 and, after a call of the scheduled action
that reports records remaining (10 batches of 20 here), lets them sleep up
to a minute before the next unless ``ODOO_NOTIFY_CRON_CHANGES`` is set in
the server's environment (this script passes its own environment on).

Then "exactly once" is checked on the database: every MO done and no longer
queued, none failed; one backflush run (trigger *Order produced*) per MO;
per MO and component one done move consuming the BOM's quantity, its move
lines and its valuation layer the same; stock of each component down by
exactly what the MOs consume and the finished product up by what they
produce; one finished move per MO; one "Marked done in the background"
message per MO; with queue_job every job done, and the count of concurrency
retries (a retried job was rolled back, so it posted nothing twice). Any
failed check makes the exit status 1.

Databases (all named after --db-prefix, default ``mrp_backflush_scale``):
``<prefix>_tpl_<mos>x<components>`` is built once (mrp_backflush without
demo data, the products, stock, BOM and the confirmed MOs, committed) and
``..._qj`` from it with queue_job installed; they are kept for the next
runs (--rebuild builds them again, e.g. after a change of the module's
fields). Each run works on a copy, ``<prefix>_run_<mode>_<N>``, dropped
afterwards (--keep keeps it). Server logs: ``.odoo/logs/scale-*.log``.

queue_job is optional for the module: when this Python does not have it,
the script installs ``odoo-addon-queue_job==18.0.1.7.0`` with ``pip
--no-deps`` as scripts/test does.

Usage (with the Python that runs Odoo, e.g. .odoo/venv/bin/python, and a
configuration file with the addons path, data dir and database access, by
default .odoo/test.rc written by scripts/test):

  python3 scripts/benchmark_scale.py [-c .odoo/test.rc] [--mos 1000]
      [--components 20] [--boms 1] [--runs cron:1,cron:2,queue_job:1,queue_job:2]
      [--db-prefix mrp_backflush_scale] [--rebuild] [--keep]
      [--timeout 3600] [--json FILE]

Measure on a quiet machine (load below the number of cores): the 2 workers
compete with everything else for the CPU. Exit status: 0 done and every
check passed, 1 a check failed or a run did not finish, 2 Odoo or the
database is not usable.
"""

import argparse
import contextlib
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODULE = "mrp_backflush"
QUEUE_JOB = "odoo-addon-queue_job==18.0.1.7.0"
CHANNEL = "root.mrp_backflush"
BATCH = 20  # batch_size of the scheduled action and of the queue jobs
FIXTURE_PARAM = "mrp_backflush.benchmark_scale_fixture"
MESSAGE = "Marked done in the background."
MODES = ("cron", "queue_job")


class ScaleError(Exception):
    pass


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def fail(sentence, code=2):
    print(sentence, file=sys.stderr)
    sys.exit(code)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Background Mark Done of many MOs on a real Odoo server, "
        "with the scheduled action and with queue_job, 1 or more workers.",
    )
    parser.add_argument(
        "-c",
        "--config",
        default=str(REPO / ".odoo" / "test.rc"),
        help="Odoo configuration file: addons path, data dir, database access",
    )
    parser.add_argument("--db-prefix", default="mrp_backflush_scale")
    parser.add_argument("--mos", type=int, default=1000)
    parser.add_argument("--components", type=int, default=20)
    parser.add_argument(
        "--boms",
        type=int,
        default=1,
        help="BOMs of --components components each, no component shared: "
        "batch k is of BOM k modulo --boms (1: every MO of the same BOM)",
    )
    parser.add_argument("--mo-qty", type=float, default=10.0)
    parser.add_argument(
        "--runs",
        default="cron:1,cron:2,queue_job:1,queue_job:2",
        help="comma-separated MODE:WORKERS, MODE cron or queue_job",
    )
    parser.add_argument("--rebuild", action="store_true", help="rebuild templates")
    parser.add_argument(
        "--prepare", action="store_true", help="build the templates only, run nothing"
    )
    parser.add_argument("--keep", action="store_true", help="keep the run databases")
    parser.add_argument(
        "--timeout", type=int, default=3600, help="seconds per run before giving up"
    )
    parser.add_argument("--json", metavar="FILE", help="dump the results as JSON")
    args = parser.parse_args(argv)
    runs = []
    for item in filter(None, (s.strip() for s in args.runs.split(","))):
        mode, _sep, workers = item.partition(":")
        if mode not in MODES or not workers.isdigit() or int(workers) < 1:
            parser.error(f"--runs: {item!r} is not cron:N or queue_job:N (N >= 1)")
        runs.append((mode, int(workers)))
    if not runs:
        parser.error("--runs is empty")
    if args.mos <= BATCH or args.components < 1 or args.boms < 1:
        parser.error(f"--mos must be above {BATCH}, --components and --boms positive")
    args.runs = runs
    return args


# ----------------------------------------------------------------------
# Odoo
# ----------------------------------------------------------------------
def bootstrap(args):
    try:
        import odoo
        from odoo.tools import config
    except ImportError as exc:
        fail(f"Odoo is not importable from this Python ({sys.executable}): {exc}.")
    if not Path(args.config).is_file():
        fail(
            f"No Odoo configuration file {args.config}: run scripts/test once "
            "(it writes .odoo/test.rc) or give one with -c."
        )
    config.parse_config(["-c", args.config, "--log-level=warn"])
    # this process copies and drops its own databases (Odoo's db service
    # refuses to when the configuration hides the database list)
    config["list_db"] = True
    gevent = subprocess.run(
        [sys.executable, "-c", "import pkg_resources; pkg_resources.require('gevent')"],
        capture_output=True,
        check=False,
    )
    if gevent.returncode:
        # the server would respawn its crashing gevent process all the time,
        # eating the CPU the workers are measured on
        fail(
            "gevent does not start in this Python (an old setuptools misses "
            "zope.interface?): "
            + gevent.stderr.decode().strip().splitlines()[-1]
            + f"; try {sys.executable} -m pip install 'setuptools>=70,<80' "
            "zope.interface."
        )
    odoo_dir = Path(odoo.__file__).resolve().parent
    odoo_bin = odoo_dir.parent / "odoo-bin"
    if odoo_bin.is_file():
        return [sys.executable, str(odoo_bin)]
    return [sys.executable, "-m", "odoo"]


def has_queue_job():
    import importlib.util

    return importlib.util.find_spec("odoo.addons.queue_job") is not None or any(
        (Path(p) / "queue_job" / "__manifest__.py").is_file() for p in _addons_paths()
    )


def _addons_paths():
    from odoo.tools import config

    return [p.strip() for p in config["addons_path"].split(",") if p.strip()]


def ensure_queue_job():
    """queue_job in this Python, installed as scripts/test does."""
    if has_queue_job():
        return
    log(f"Installing OCA's queue_job ({QUEUE_JOB}) with pip --no-deps")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            QUEUE_JOB,
        ],
        check=True,
    )
    import importlib
    import pkgutil

    import odoo.addons

    # odoo.addons extended its path when it was imported: extend it again
    # now that the wheel added odoo/addons/queue_job to site-packages.
    importlib.invalidate_caches()
    odoo.addons.__path__ = pkgutil.extend_path(odoo.addons.__path__, "odoo.addons")
    if not has_queue_job():
        raise ScaleError(f"{QUEUE_JOB} installed but Odoo does not find queue_job")


def db_exists(name):
    from odoo.service import db

    return db.exp_db_exist(name)


def drop_db(name):
    from odoo.modules.registry import Registry
    from odoo.service import db

    Registry.delete(name)
    if db.exp_db_exist(name):
        db.exp_drop(name)


def copy_db(source, target):
    from odoo.modules.registry import Registry
    from odoo.service import db

    Registry.delete(source)
    drop_db(target)
    db.exp_duplicate_database(source, target)


@contextlib.contextmanager
def environment(dbname, user=None):
    """An environment on ``dbname`` (superuser, or ``user``'s XML id),
    committed when the block ends without error."""
    from odoo import SUPERUSER_ID, api
    from odoo.modules.registry import Registry

    with Registry(dbname).cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        if user:
            uid = env.ref(user).id
            env = api.Environment(cr, uid, env["res.users"].browse(uid).context_get())
        yield env


def run_odoo(odoo_cmd, args, logfile):
    """odoo-bin with ``args``, output into ``logfile``; raises on failure."""
    logfile.parent.mkdir(parents=True, exist_ok=True)
    with open(logfile, "w", encoding="utf-8") as out:
        status = subprocess.run(
            [*odoo_cmd, *args], stdout=out, stderr=subprocess.STDOUT, check=False
        ).returncode
    if status:
        raise ScaleError(f"odoo-bin {' '.join(args)} failed: see {logfile}")


# ----------------------------------------------------------------------
# Templates
# ----------------------------------------------------------------------
def template_names(args):
    base = f"{args.db_prefix}_tpl_{args.mos}x{args.components}"
    if args.boms > 1:
        base += f"_b{args.boms}"
    return {"cron": base, "queue_job": f"{base}_qj"}


def build_templates(odoo_cmd, args, modes):
    names = template_names(args)
    base = names["cron"]
    logs = REPO / ".odoo" / "logs"
    if args.rebuild or not db_exists(base):
        drop_db(base)
        log(f"Template {base}: installing {MODULE} without demo data")
        run_odoo(
            odoo_cmd,
            [
                "-c",
                args.config,
                "-d",
                base,
                "-i",
                MODULE,
                "--without-demo=all",
                "--stop-after-init",
                "--no-http",
                "--max-cron-threads=0",
                "--log-level=warn",
            ],
            logs / f"scale-install-{base}.log",
        )
        populate(base, args)
    if "queue_job" in modes:
        qj = names["queue_job"]
        if args.rebuild or not db_exists(qj):
            ensure_queue_job()
            log(f"Template {qj}: {base} with queue_job installed")
            copy_db(base, qj)
            run_odoo(
                odoo_cmd,
                [
                    "-c",
                    args.config,
                    "-d",
                    qj,
                    "-i",
                    "queue_job",
                    "--stop-after-init",
                    "--no-http",
                    "--max-cron-threads=0",
                    "--log-level=warn",
                ],
                logs / f"scale-install-{qj}.log",
            )
    from odoo.modules.registry import Registry

    for name in names.values():
        Registry.delete(name)
    return names


def populate(dbname, args):
    """Products, stock, BOM and ``args.mos`` confirmed and reserved MOs,
    committed; what the checks need is kept in a system parameter."""
    t0 = time.perf_counter()
    with environment(dbname) as env:
        company = env.company
        warehouse = env["stock.warehouse"].search(
            [("company_id", "=", company.id)], limit=1
        )
        categ = env["product.category"].create(
            {
                "name": "Backflush scale FIFO",
                "property_cost_method": "fifo",
                "property_valuation": "manual_periodic",
            }
        )

        def products(count, prefix):
            return env["product.product"].create(
                [
                    {
                        "name": f"BF scale {prefix} {i:04d}",
                        "default_code": f"BFS-{prefix}-{i:04d}",
                        "is_storable": True,
                        "categ_id": categ.id,
                        "standard_price": 1.0 + i % 7,
                    }
                    for i in range(count)
                ]
            )

        components = products(args.components * args.boms, "C")
        finished = products(args.boms, "F")
        # 1, 2 or 3 per unit: a mix-up of components shows in the totals
        line_qty = {c.id: 1.0 + i % 3 for i, c in enumerate(components)}
        # MO i is of BOM (i // 20) % boms: with several BOMs, consecutive
        # batches (which run side by side) share no component
        bom_of = [(i // BATCH) % args.boms for i in range(args.mos)]
        boms = []
        for k in range(args.boms):
            lines = components[k * args.components : (k + 1) * args.components]
            boms.append(
                env["mrp.bom"].create(
                    {
                        "product_tmpl_id": finished[k].product_tmpl_id.id,
                        "product_id": finished[k].id,
                        "product_qty": 1.0,
                        "consumption": "warning",
                        "backflush_mode": "finish",
                        "backflush_shortage_policy": "block",
                        "backflush_substitution": "none",
                        "bom_line_ids": [
                            (0, 0, {"product_id": c.id, "product_qty": line_qty[c.id]})
                            for c in lines
                        ],
                    }
                )
            )
        stock = {
            line.product_id.id: bom_of.count(k) * args.mo_qty * line.product_qty + 1000
            for k, bom in enumerate(boms)
            for line in bom.bom_line_ids
        }
        quants = (
            env["stock.quant"]
            .with_context(inventory_mode=True)
            .create(
                [
                    {
                        "product_id": cid,
                        "location_id": warehouse.lot_stock_id.id,
                        "inventory_quantity": qty,
                    }
                    for cid, qty in stock.items()
                ]
            )
        )
        quants.action_apply_inventory()
        company.backflush_background_threshold = min(50, args.mos - 1)
        env["ir.config_parameter"].set_param(
            FIXTURE_PARAM,
            json.dumps(
                {
                    "boms": {
                        bom.id: {
                            "finished": bom.product_id.id,
                            "line_qty": {
                                line.product_id.id: line.product_qty
                                for line in bom.bom_line_ids
                            },
                        }
                        for bom in boms
                    },
                    "mo_qty": args.mo_qty,
                    "stock": stock,
                }
            ),
        )
        picking_type = warehouse.manu_type_id.id
        bom_ids = [boms[k].id for k in bom_of]
        product_ids = [boms[k].product_id.id for k in bom_of]
    with environment(dbname, "base.user_admin") as env:
        for start in range(0, args.mos, 100):
            mos = env["mrp.production"].create(
                [
                    {
                        "product_id": product_ids[i],
                        "bom_id": bom_ids[i],
                        "product_qty": args.mo_qty,
                        "picking_type_id": picking_type,
                    }
                    for i in range(start, min(args.mos, start + 100))
                ]
            )
            mos.action_confirm()
            mos.action_assign()
            env.cr.commit()
            log(f"  {start + len(mos)}/{args.mos} MOs confirmed and reserved")
        env.cr.execute("ANALYZE")
    log(f"Template {dbname} populated in {time.perf_counter() - t0:.0f} s")


# ----------------------------------------------------------------------
# One run
# ----------------------------------------------------------------------
def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_times():
    """(busy, total) jiffies of all cores, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def group_cpu(pgid):
    """CPU seconds of the live processes of process group ``pgid`` (the
    server's master, workers and job runner)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # the fields after the command's closing parenthesis
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / os.sysconf("SC_CLK_TCK")


def start_server(odoo_cmd, args, dbname, mode, workers, logfile):
    http_port, gevent_port = free_port(), free_port()
    cmd = [
        *odoo_cmd,
        "-c",
        args.config,
        "-d",
        dbname,
        f"--db-filter=^{dbname}$",
        f"--workers={workers}",
        f"--max-cron-threads={workers if mode == 'cron' else 0}",
        "--http-interface=127.0.0.1",
        f"--http-port={http_port}",
        f"--gevent-port={gevent_port}",
        # a batch of 20 MOs must not hit the worker's default limits
        "--limit-time-cpu=3600",
        "--limit-time-real=7200",
        "--limit-time-real-cron=7200",
        "--log-level=info",
        f"--logfile={logfile}",
    ]
    env = dict(os.environ)
    if mode == "queue_job":
        cmd.append("--load=base,web,queue_job")
        env.update(
            ODOO_QUEUE_JOB_CHANNELS=f"root:{workers},{CHANNEL}:{workers}",
            ODOO_QUEUE_JOB_HOST="127.0.0.1",
            ODOO_QUEUE_JOB_PORT=str(http_port),
        )
    logfile.parent.mkdir(parents=True, exist_ok=True)
    logfile.unlink(missing_ok=True)  # Odoo appends to it
    server = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 180
    url = f"http://127.0.0.1:{http_port}/web/health"
    while True:
        if server.poll() is not None:
            raise ScaleError(f"the Odoo server stopped at start: see {logfile}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    break
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            stop_server(server)
            raise ScaleError(f"the Odoo server did not answer on {url}")
        time.sleep(0.5)
    # queue_job's runner starts 5 s after its process; cron workers at once
    time.sleep(8 if mode == "queue_job" else 2)
    return server


def stop_server(server):
    """Stop the server we started (its master, then its process group)."""
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.send_signal(signal.SIGKILL)
            server.wait()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(server.pid, signal.SIGKILL)  # workers left behind, if any


def postpone_other_crons(dbname):
    """Every other scheduled action is due in a new database (its first
    call): postpone them a day, so that the cron workers do only the work
    measured."""
    with environment(dbname) as env:
        cron = env.ref("mrp_backflush.ir_cron_backflush_mark_done")
        env.cr.execute(
            "UPDATE ir_cron SET nextcall = now() at time zone 'UTC' + interval '1 day' "
            "WHERE id != %s",
            (cron.id,),
        )
        env.cr.execute("DELETE FROM ir_cron_trigger")


def read_fixture(env):
    """The fixture of ``populate``: {bom id: {finished, line_qty}}, the MO
    quantity and the initial stock, ids as integers."""
    fixture = json.loads(env["ir.config_parameter"].sudo().get_param(FIXTURE_PARAM))
    if "boms" not in fixture:  # a template of one BOM, built before --boms
        fixture["boms"] = {
            fixture["bom"]: {
                "finished": fixture["finished"],
                "line_qty": fixture["line_qty"],
            }
        }
    return {
        "boms": {
            int(bom): {
                "finished": data["finished"],
                "line_qty": {int(p): q for p, q in data["line_qty"].items()},
            }
            for bom, data in fixture["boms"].items()
        },
        "mo_qty": fixture["mo_qty"],
        "stock": {int(p): q for p, q in fixture["stock"].items()},
    }


def queue_from_list(dbname):
    """What Actions > Mark as Done on the list does with every confirmed MO
    selected: (MOs queued, seconds of the request and its commit)."""
    with environment(dbname, "base.user_admin") as env:
        fixture = read_fixture(env)
        mos = env["mrp.production"].search(
            [("bom_id", "in", list(fixture["boms"])), ("state", "=", "confirmed")]
        )
        action = env.ref("mrp.action_production_order_mark_done")
        t0 = time.perf_counter()
        res = action.with_context(
            active_model="mrp.production", active_ids=mos.ids, active_id=mos.ids[0]
        ).run()
        env.cr.commit()
        seconds = time.perf_counter() - t0
        if not isinstance(res, dict) or res.get("tag") != "display_notification":
            raise ScaleError(f"Mark as Done of {len(mos)} MOs was not queued: {res!r}")
        queued = env["mrp.production"].search_count(
            [("id", "in", mos.ids), ("backflush_queue_user_id", "!=", False)]
        )
    return queued, seconds


def progress(cr, mode):
    """(MOs still queued, queue jobs not finished)."""
    cr.execute(
        "SELECT count(*) FROM mrp_production WHERE backflush_queue_user_id IS NOT NULL"
    )
    queued = cr.fetchone()[0]
    jobs = 0
    if mode == "queue_job":
        cr.execute(
            "SELECT count(*) FROM queue_job WHERE channel = %s "
            "AND state IN ('wait_dependencies', 'pending', 'enqueued', 'started')",
            (CHANNEL,),
        )
        jobs = cr.fetchone()[0]
    return queued, jobs


def wait_done(dbname, mode, server, timeout, logfile):
    """Poll until no MO is queued and no job is left; seconds waited."""
    import odoo.sql_db

    t0 = time.perf_counter()
    last_log = 0
    with contextlib.closing(odoo.sql_db.db_connect(dbname).cursor()) as cr:
        while True:
            queued, jobs = progress(cr, mode)
            cr.rollback()  # a new snapshot each time
            elapsed = time.perf_counter() - t0
            if not queued and not jobs:
                return elapsed
            if server.poll() is not None:
                raise ScaleError(f"the Odoo server stopped: see {logfile}")
            if elapsed > timeout:
                raise ScaleError(f"{queued} MOs still queued after {timeout} s")
            if elapsed - last_log >= 15:
                last_log = elapsed
                log(f"  {elapsed:6.0f} s: {queued} MOs queued, {jobs} jobs left")
            time.sleep(0.5)


def run_one(odoo_cmd, args, templates, mode, workers):
    name = f"{mode}:{workers}"
    dbname = f"{args.db_prefix}_run_{mode}_{workers}"
    logfile = REPO / ".odoo" / "logs" / f"scale-{mode}-{workers}.log"
    log(f"Run {name}: copying {templates[mode]} into {dbname}")
    copy_db(templates[mode], dbname)
    postpone_other_crons(dbname)
    load_before = os.getloadavg()[0]
    log(f"Run {name}: starting odoo-bin (load {load_before:.2f}; log {logfile})")
    server = start_server(odoo_cmd, args, dbname, mode, workers, logfile)
    try:
        busy0, total0 = cpu_times()
        cpu0 = group_cpu(server.pid)
        queued, request = queue_from_list(dbname)
        log(f"Run {name}: {queued} MOs queued in {request:.1f} s")
        background = wait_done(dbname, mode, server, args.timeout, logfile)
        busy1, total1 = cpu_times()
        server_cpu = group_cpu(server.pid) - cpu0
    finally:
        stop_server(server)
    result = {
        "run": name,
        "mode": mode,
        "workers": workers,
        "mos": queued,
        "request_s": round(request, 2),
        "background_s": round(background, 1),
        "total_s": round(request + background, 1),
        "mos_per_s": round(queued / background, 2),
        "load_before": round(load_before, 2),
        "machine_cpu_pct": round(100 * (busy1 - busy0) / max(1, total1 - total0)),
        "server_cpu_s": round(server_cpu, 1),
    }
    result.update(work_stats(dbname, mode, logfile))
    result["parallel"] = round(result["busy_s"] / background, 2)
    result["checks"] = check(dbname, mode)
    from odoo.modules.registry import Registry

    Registry.delete(dbname)
    if not args.keep:
        drop_db(dbname)
    return result


def work_stats(dbname, mode, logfile):
    """Which processes did the batches and for how long in all: the scheduled
    action's calls from the server log, the jobs from queue_job's table (the
    time of attempts rolled back by a concurrency error is not counted)."""
    if mode == "queue_job":
        with environment(dbname) as env:
            env.cr.execute(
                "SELECT count(DISTINCT worker_pid), coalesce(sum(exec_time), 0), "
                "coalesce(sum(retry - 1), 0) "  # perform() counts every attempt
                "FROM queue_job WHERE channel = %s AND state = 'done'",
                (CHANNEL,),
            )
            runners, busy, retries = env.cr.fetchone()
        return {"runners": runners, "busy_s": round(busy, 1), "retries": retries}
    pattern = re.compile(
        r"^\S+ \S+ (\d+) INFO .*Job 'Backflush: Mark Done in the background' "
        r"\(\d+\) done in ([\d.]+)s"
    )
    pids, busy = set(), 0.0
    with open(logfile, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            match = pattern.match(line)
            if match:
                pids.add(match[1])
                busy += float(match[2])
    return {"runners": len(pids), "busy_s": round(busy, 1), "retries": 0}


# ----------------------------------------------------------------------
# Exactly once
# ----------------------------------------------------------------------
def check(dbname, mode):
    """{check: [ok, detail]} on the database after a run."""
    checks = {}

    def verdict(name, ok, detail):
        checks[name] = [bool(ok), detail]

    with environment(dbname) as env:
        cr = env.cr
        fixture = read_fixture(env)
        boms, mo_qty = fixture["boms"], fixture["mo_qty"]
        mos = env["mrp.production"].search([("bom_id", "in", list(boms))])
        n, ids = len(mos), tuple(mos.ids)
        bom_of = {mo.id: mo.bom_id.id for mo in mos}
        mos_of = {bom: list(bom_of.values()).count(bom) for bom in boms}
        # per component: its quantity per unit and how many MOs consume it
        line_qty, users = {}, {}
        for bom, data in boms.items():
            for product_id, qty in data["line_qty"].items():
                line_qty[product_id] = qty
                users[product_id] = mos_of[bom]
        finished = {data["finished"]: mos_of[bom] for bom, data in boms.items()}

        cr.execute(
            "SELECT state, count(*) FROM mrp_production WHERE id IN %s GROUP BY state",
            (ids,),
        )
        states = dict(cr.fetchall())
        verdict("MOs done", states == {"done": n}, states)
        cr.execute(
            "SELECT count(*) FILTER (WHERE backflush_queue_user_id IS NOT NULL), "
            "count(*) FILTER (WHERE backflush_queue_error IS NOT NULL) "
            "FROM mrp_production WHERE id IN %s",
            (ids,),
        )
        queued, failed = cr.fetchone()
        verdict(
            "none queued or failed",
            not queued and not failed,
            f"{queued} queued, {failed} failed",
        )

        cr.execute(
            "SELECT n_runs, count(*) FROM (SELECT p.id, count(r.id) AS n_runs "
            "FROM mrp_production p LEFT JOIN mrp_backflush_run r "
            "ON r.production_id = p.id WHERE p.id IN %s GROUP BY p.id) s "
            "GROUP BY n_runs",
            (ids,),
        )
        runs = dict(cr.fetchall())
        cr.execute(
            "SELECT trigger, count(*) FROM mrp_backflush_run "
            "WHERE production_id IN %s GROUP BY trigger",
            (ids,),
        )
        triggers = dict(cr.fetchall())
        verdict(
            "one mark_done run per MO",
            runs == {1: n} and triggers == {"mark_done": n},
            f"MOs by number of runs {runs}, runs by trigger {triggers}",
        )

        cr.execute(
            "SELECT m.raw_material_production_id, m.product_id, count(*), "
            "sum(m.quantity), sum(m.product_uom_qty) FROM stock_move m "
            "WHERE m.raw_material_production_id IN %s AND m.state = 'done' "
            "GROUP BY 1, 2",
            (ids,),
        )
        rows = cr.fetchall()
        per_mo = {}
        wrong = []
        for mo_id, product_id, count, qty, _demand in rows:
            per_mo.setdefault(mo_id, set()).add(product_id)
            expected = mo_qty * boms[bom_of[mo_id]]["line_qty"].get(
                product_id, math.nan
            )
            if count != 1 or abs(qty - expected) > 1e-6:
                wrong.append((mo_id, product_id, count, qty, expected))
        missing = [
            mo for mo in ids if per_mo.get(mo) != set(boms[bom_of[mo]]["line_qty"])
        ]
        cr.execute(
            "SELECT count(*) FROM stock_move WHERE raw_material_production_id IN %s "
            "AND state NOT IN ('done', 'cancel')",
            (ids,),
        )
        open_moves = cr.fetchone()[0]
        verdict(
            "consumed = BOM, one done move per MO and component",
            not wrong and not missing and not open_moves,
            f"{len(rows)} done component moves; {len(wrong)} wrong "
            f"{wrong[:3]}; {len(missing)} MOs without every component; "
            f"{open_moves} moves left open",
        )

        cr.execute(
            "SELECT m.product_id, sum(ml.quantity) FROM stock_move_line ml "
            "JOIN stock_move m ON m.id = ml.move_id "
            "WHERE m.raw_material_production_id IN %s AND m.state = 'done' "
            "GROUP BY 1",
            (ids,),
        )
        lines = dict(cr.fetchall())
        cr.execute(
            "SELECT m.product_id, sum(v.quantity), count(*) "
            "FROM stock_valuation_layer v JOIN stock_move m ON m.id = v.stock_move_id "
            "WHERE m.raw_material_production_id IN %s GROUP BY 1",
            (ids,),
        )
        layers = {p: (q, c) for p, q, c in cr.fetchall()}
        cr.execute(
            "SELECT q.product_id, sum(q.quantity) FROM stock_quant q "
            "JOIN stock_location l ON l.id = q.location_id "
            "WHERE l.usage = 'internal' AND q.product_id IN %s GROUP BY 1",
            (tuple(line_qty) + tuple(finished),),
        )
        on_hand = dict(cr.fetchall())
        bad = []
        for product_id, per_unit in line_qty.items():
            consumed = users[product_id] * mo_qty * per_unit
            stock = fixture["stock"][product_id] - consumed
            got = (
                lines.get(product_id, 0.0),
                layers.get(product_id, (0.0, 0)),
                on_hand.get(product_id, 0.0),
            )
            if (
                abs(got[0] - consumed) > 1e-6
                or abs(got[1][0] + consumed) > 1e-6
                or got[1][1] != users[product_id]
                or abs(got[2] - stock) > 1e-6
            ):
                bad.append((product_id, consumed, got))
        verdict(
            "no duplicate consumption (move lines, valuation layers, stock)",
            not bad,
            f"{len(bad)} components off {bad[:3]}",
        )

        cr.execute(
            "SELECT count(*), count(DISTINCT production_id), sum(quantity) "
            "FROM stock_move WHERE production_id IN %s AND state = 'done'",
            (ids,),
        )
        moves, producing, produced = cr.fetchone()
        finished_stock = sum(on_hand.get(p, 0.0) for p in finished)
        wrong_stock = [
            p
            for p, count in finished.items()
            if abs(on_hand.get(p, 0.0) - count * mo_qty) > 1e-6
        ]
        verdict(
            "one finished move per MO",
            moves == producing == n
            and abs(produced - n * mo_qty) < 1e-6
            and not wrong_stock,
            f"{moves} moves for {producing} MOs, {produced} produced, "
            f"{finished_stock} on hand",
        )

        cr.execute(
            "SELECT n_msg, count(*) FROM (SELECT p.id, count(m.id) AS n_msg "
            "FROM mrp_production p LEFT JOIN mail_message m "
            "ON m.model = 'mrp.production' AND m.res_id = p.id "
            "AND m.body::text LIKE %s WHERE p.id IN %s GROUP BY p.id) s "
            "GROUP BY n_msg",
            (f"%{MESSAGE}%", ids),
        )
        messages = dict(cr.fetchall())
        verdict("one 'marked done' message per MO", messages == {1: n}, dict(messages))

        if mode == "queue_job":
            cr.execute(
                "SELECT state, count(*), coalesce(sum(retry - 1), 0) FROM queue_job "
                "WHERE channel = %s GROUP BY state",
                (CHANNEL,),
            )
            jobs = {state: (count, retry) for state, count, retry in cr.fetchall()}
            expected = math.ceil(n / BATCH)
            verdict(
                "queue jobs all done",
                set(jobs) == {"done"} and jobs["done"][0] == expected,
                f"{expected} expected; by state (jobs, attempts rolled back and "
                f"run again): {jobs}",
            )
        else:
            cron = env.ref("mrp_backflush.ir_cron_backflush_mark_done")
            cr.execute(
                "SELECT count(*), coalesce(sum(done), 0) FROM ir_cron_progress "
                "WHERE cron_id = %s AND done > 0",
                (cron.id,),
            )
            calls, done = cr.fetchone()
            verdict(
                "scheduled action batches",
                done == n,
                f"{calls} calls of {BATCH} MOs, {done} MOs in all",
            )
    return checks


# ----------------------------------------------------------------------
def print_table(results):
    print()
    print(
        f"{'run':<13} {'MOs':>5} {'request s':>9} {'background s':>12} "
        f"{'total s':>8} {'MOs/s':>6} {'load':>5} {'cpu %':>5} {'srv cpu s':>9} "
        f"{'runners':>7} {'parallel':>8} {'retries':>7}  checks"
    )
    for r in results:
        failed = [name for name, (ok, _d) in r["checks"].items() if not ok]
        print(
            f"{r['run']:<13} {r['mos']:>5} {r['request_s']:>9.1f} "
            f"{r['background_s']:>12.1f} {r['total_s']:>8.1f} {r['mos_per_s']:>6.2f} "
            f"{r['load_before']:>5.2f} {r['machine_cpu_pct']:>5} "
            f"{r['server_cpu_s']:>9.1f} {r['runners']:>7} {r['parallel']:>8.2f} "
            f"{r['retries']:>7}  "
            + ("OK" if not failed else "FAILED: " + "; ".join(failed))
        )
    print()
    for r in results:
        print(f"{r['run']}:")
        for name, (ok, detail) in r["checks"].items():
            print(f"  {'ok  ' if ok else 'FAIL'} {name}: {detail}")


def main(argv=None):
    args = parse_args(argv)
    odoo_cmd = bootstrap(args)
    results = []
    status = 0
    try:
        templates = build_templates(odoo_cmd, args, {mode for mode, _w in args.runs})
        for mode, workers in [] if args.prepare else args.runs:
            result = run_one(odoo_cmd, args, templates, mode, workers)
            results.append(result)
            failed = [name for name, (ok, _d) in result["checks"].items() if not ok]
            log(
                f"Run {result['run']}: {result['mos']} MOs in {result['total_s']} s "
                f"({result['mos_per_s']} MOs/s, load before {result['load_before']}, "
                f"{result['runners']} runners, parallel {result['parallel']}, "
                f"{result['retries']} retries), "
                f"checks {'FAILED: ' + '; '.join(failed) if failed else 'OK'}"
            )
            if args.json:  # after each run: a long series may be stopped
                with open(args.json, "w", encoding="utf-8") as fh:
                    json.dump({"args": vars(args), "results": results}, fh, indent=2)
    except ScaleError as exc:
        print(f"Benchmark failed: {exc}.", file=sys.stderr)
        status = 1
    if results:
        print_table(results)
        if any(not ok for r in results for ok, _d in r["checks"].values()):
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
