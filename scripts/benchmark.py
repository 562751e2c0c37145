#!/usr/bin/env python3
# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Mark Done with and without mrp_backflush, on the same database, in one run.

SPEC §6 (performance budget). "Vanilla" is the same registry with every
method the module overrides on an existing model (``_post_inventory``,
``_get_move_raw_values``, ``_button_mark_done_sanity_checks``,
``_determine_is_manual_consumption``, ``_prepare_merge_moves_distinct_fields``
and any later one) temporarily replaced by a plain ``super()`` call; the
patch is checked on every run (no backflush run, no ``backflush_unit_qty`` in
vanilla mode; one run per MO in module mode). What cannot be bypassed that
way stays in both modes: the module's extra columns and the stored computed
``stock.valuation.layer.backflush_role``.

Scenarios:
  a  Mark Done of one MO with --components components (storable, FIFO);
     repeated --repeat times per mode, vanilla/module order alternating.
  b  ``mos.button_mark_done()`` on 10 and --mos MOs of --mo-components
     components each (linearity).
  s  as (a) with --scrap-percent planned scrap on every line: module only,
     the cost of posting planned scrap (ratio against vanilla (a)).
  c  Backflush Preview (``mrp.backflush.preview`` create) of one MO of a
     --preview-lines line BOM; module only, target < 0.5 s.
  v  BOM accuracy advice from counts (``mrp.bom.backflush.advice`` with
     basis ``counts``, ``action_compute``) over --advice-months months of
     history for --advice-components components, each used by two BOM
     lines; and the Count Variance pivot per component and month (vp) and
     as it opens (vs: one read_group per row and column prefix, which the
     web client sends at once: the slowest is the screen's time). The
     history is written with SQL (done moves only: the advice reads them,
     and Mark Done at this volume would take hours): per month and BOM
     line 4 backflushes, per component a delivery and an end-of-month count
     finding 2 % of the backflushed quantity missing. Module only; the
     budget is under 1 s each on a quiet machine (SPEC §6).
  m  mass Mark Done: ``button_mark_done()`` on --mass-mos MOs of
     --mo-components components, vanilla and module alternating.
  ms as (m) with --scrap-percent planned scrap on every line: module only,
     against vanilla (m) without scrap.
  q  Mark as Done from the list on the --mass-mos MOs of (m), above the
     company's background threshold: the request that queues them (module
     only), then every batch of the scheduler's job until the queue is
     empty, both against vanilla (m), which does it all in the request.

Every measured run starts from the same state: its MOs are created and
confirmed (and reserved) inside a savepoint that is rolled back after the
measurement, with caches invalidated before the timer starts. The timer
stops after ``cr.flush()`` (pending writes, recomputations and precommit
hooks such as mail tracking, i.e. what a commit would run). Queries are
counted with ``odoo.sql_db.sql_counter``; "cpu s" is this process's CPU time
(Python only, steadier than wall time on a busy machine). The fixture is
ANALYZEd inside the transaction so PostgreSQL plans for 1000 products, not
for the empty tables its statistics describe (--no-analyze to skip). The
whole transaction is rolled back at the end: the data is left unchanged
(only planner statistics may move).

Usage:
  python3 scripts/benchmark.py --database DB [--addons-path PATHS]
      [--components 100] [--mos 30] [--mo-components 20]
      [--preview-lines 1000] [--repeat 3] [--warmup 1] [--json FILE]
      [--mass-mos 100] [--scenarios a,b,s,c,m,ms,q,v] [--scrap-percent 2]
      [--explain] [--advice-components 1000] [--advice-months 12]
      [--valuation manual_periodic|real_time] [--superuser] [--no-reserve]

Exit status: 0 done, 1 a check failed (e.g. the vanilla patch did not
apply, Mark Done opened a wizard), 2 Odoo or the database is not usable.

``--explain`` also records every query of one Mark Done of scenario (a) in
both modes (at --components and half of it), and with planned scrap, and
prints the extra queries grouped by SQL text and by the line of the
module's code that issued them, with their growth per component.
"""

import argparse
import contextlib
import datetime
import functools
import inspect
import json
import os
import re
import statistics
import sys
import time
import traceback
from collections import Counter, defaultdict
from pathlib import Path
from unittest import mock

REPO = Path(__file__).resolve().parent.parent
MODULE = "mrp_backflush"
MODULE_PKG = f"odoo.addons.{MODULE}"
VANILLA, BACKFLUSH = "vanilla", "module"


class BenchmarkError(Exception):
    pass


# ----------------------------------------------------------------------
# Bootstrap
# ----------------------------------------------------------------------
def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Mark Done with and without mrp_backflush (SPEC §6).",
        epilog="Unknown options are passed to Odoo's configuration "
        "(e.g. --db_host, --db_user, -c FILE).",
    )
    parser.add_argument("-d", "--database", required=True)
    parser.add_argument(
        "--addons-path",
        help="Odoo addons path; a folder holding the mrp_backflush link is "
        "added when missing (default: Odoo's own addons + .odoo/addons).",
    )
    parser.add_argument("--components", type=int, default=100)
    parser.add_argument("--mos", type=int, default=30)
    parser.add_argument(
        "--mass-mos", type=int, default=100, help="MOs of scenarios m, ms and q"
    )
    parser.add_argument("--mo-components", type=int, default=20)
    parser.add_argument("--preview-lines", type=int, default=1000)
    parser.add_argument("--advice-components", type=int, default=1000)
    parser.add_argument("--advice-months", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--warmup", type=int, default=1, help="unmeasured runs per mode"
    )
    parser.add_argument(
        "--mo-qty", type=float, default=10.0, help="finished qty per MO"
    )
    parser.add_argument("--line-qty", type=float, default=5.0, help="BOM line qty")
    parser.add_argument(
        "--scrap-percent",
        type=float,
        default=2.0,
        help="planned scrap of scenario (s); 0 skips it",
    )
    parser.add_argument(
        "--valuation",
        choices=("manual_periodic", "real_time"),
        default="manual_periodic",
    )
    parser.add_argument(
        "--no-reserve", action="store_true", help="do not reserve before Mark Done"
    )
    parser.add_argument(
        "--no-analyze",
        action="store_true",
        help="skip ANALYZE of the benchmark's uncommitted data (stale statistics)",
    )
    parser.add_argument(
        "--superuser", action="store_true", help="run as __system__, not admin"
    )
    parser.add_argument(
        "--scenarios",
        default="a,b,s,c,m,ms,q,v",
        help="comma-separated subset of a,b,s,c,m,ms,q,v ((s) adds (a), its reference)",
    )
    parser.add_argument(
        "--explain", action="store_true", help="per-query analysis of (a)"
    )
    parser.add_argument("--json", metavar="FILE", help="dump the results as JSON")
    args, odoo_args = parser.parse_known_args(argv)
    args.odoo_args = odoo_args
    args.scenarios = {s.strip() for s in args.scenarios.split(",") if s.strip()}
    if "s" in args.scenarios:
        # (s) is measured against vanilla (a), without scrap.
        args.scenarios.add("a")
    if (
        min(args.repeat, args.components, args.mos, args.mo_components, args.mass_mos)
        < 1
    ):
        parser.error(
            "--repeat, --components, --mos, --mass-mos and --mo-components must "
            "be positive"
        )
    return args


def fail(sentence, code=2):
    print(sentence, file=sys.stderr)
    sys.exit(code)


def default_addons_path(odoo):
    odoo_dir = Path(odoo.__file__).resolve().parent
    paths = [odoo_dir / "addons", odoo_dir.parent / "addons"]
    return [str(p) for p in paths if p.is_dir()]


def module_folder():
    """A folder holding an ``mrp_backflush`` entry that is this repository."""
    if REPO.name == MODULE:
        return str(REPO.parent)
    folder = REPO / ".odoo" / "addons"
    link = folder / MODULE
    folder.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(REPO, target_is_directory=True)
    elif link.resolve() != REPO:
        raise BenchmarkError(f"{link} points to {link.resolve()}, not to {REPO}")
    return str(folder)


def bootstrap(args):
    try:
        import odoo  # noqa: F401
        import odoo.modules.registry
        import odoo.sql_db
        from odoo.tools import config
    except ImportError as exc:
        fail(f"Odoo is not importable from this Python ({sys.executable}): {exc}.")

    if args.addons_path:
        paths = [p.strip() for p in args.addons_path.split(",") if p.strip()]
    else:
        paths = default_addons_path(odoo)
    if not any((Path(p) / MODULE / "__manifest__.py").is_file() for p in paths):
        paths.append(module_folder())
    config.parse_config(
        [
            f"--addons-path={','.join(paths)}",
            f"--database={args.database}",
            "--log-level=warn",
            *args.odoo_args,
        ]
    )
    # Refuse a database that is missing or lacks the module, before loading it.
    try:
        with contextlib.closing(odoo.sql_db.db_connect(args.database).cursor()) as cr:
            cr.execute(
                "SELECT state FROM ir_module_module WHERE name = %s",
                (MODULE,),
                log_exceptions=False,
            )
            row = cr.fetchone()
    except Exception as exc:  # noqa: BLE001 (OperationalError, missing table...)
        first = (
            str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        )
        fail(f"Database {args.database!r} cannot be used: {first}.")
    if not row or row[0] != "installed":
        fail(
            f"Database {args.database!r} does not have {MODULE} installed "
            f"(state: {row[0] if row else 'unknown'}); install it with "
            f"odoo-bin -d {args.database} -i {MODULE}."
        )
    return odoo.modules.registry.Registry(args.database)


ANALYZE_TABLES = (
    "product_product",
    "product_template",
    "product_category",
    "stock_quant",
    "stock_valuation_layer",
    "stock_move",
    "stock_move_line",
    "mrp_bom",
    "mrp_bom_line",
    "mrp_production",
    "stock_lot",
)


def analyze(env):
    """Planner statistics that see the rows this transaction created.

    Everything the benchmark creates is uncommitted, so PostgreSQL's
    statistics still describe an almost empty database and pick plans that
    are quadratic on 1000 products (nested loops over product_template for
    the product record rule). ANALYZE in the transaction samples our own
    rows too; production databases have committed, analyzed data."""
    for table in ANALYZE_TABLES:
        env.cr.execute(f'ANALYZE "{table}"')


def check_schema(env):
    """Columns of the stored fields the loaded code declares but the
    database lacks (code newer than the installed module)."""
    env.cr.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema()"
    )
    columns = set(env.cr.fetchall())
    missing = []
    for model_name in env.registry:
        model = env[model_name]
        if model._abstract or not model._auto:
            continue
        for field in model._fields.values():
            if field.store and field.column_type and field._module == MODULE:
                if (model._table, field.name) not in columns:
                    missing.append(f"{model_name}.{field.name}")
    return missing


# ----------------------------------------------------------------------
# Vanilla mode: bypass every override of the module on existing models
# ----------------------------------------------------------------------
def module_overrides(env):
    """[(definition class, method name)] the module overrides on models that
    exist without it (e.g. mrp.production, stock.move)."""
    found = {}
    for model_name in env.registry:
        model = env[model_name]
        if model._original_module == MODULE:
            continue  # the module's own models have no vanilla behaviour
        mro = type(model).__mro__
        for i, cls in enumerate(mro):
            if not getattr(cls, "__module__", "").startswith(MODULE_PKG + "."):
                continue
            for name, value in vars(cls).items():
                if name.startswith("__") or not inspect.isfunction(value):
                    continue
                if getattr(value, "_constrains", None) or getattr(
                    value, "_onchange", None
                ):
                    continue  # collected at setup: a patch would not apply
                if any(name in vars(parent) for parent in mro[i + 1 :]):
                    found[cls, name] = model_name
    return sorted(found.items(), key=lambda item: (item[1], item[0][1]))


def vanilla_method(cls, name, original):
    def vanilla(self, *args, **kwargs):
        return getattr(super(cls, self), name)(*args, **kwargs)

    functools.update_wrapper(vanilla, original)  # keeps _api & co.
    del vanilla.__wrapped__
    return vanilla


@contextlib.contextmanager
def mode_patch(mode, overrides):
    if mode == BACKFLUSH:
        yield
        return
    with contextlib.ExitStack() as stack:
        for (cls, name), _model in overrides:
            stack.enter_context(
                mock.patch.object(cls, name, vanilla_method(cls, name, vars(cls)[name]))
            )
        yield


# ----------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------
class Fixture:
    def __init__(self, env, args):
        self.env = env  # superuser env for the setup
        self.args = args
        self.company = env.company
        self.warehouse = env["stock.warehouse"].search(
            [("company_id", "=", self.company.id)], limit=1
        )
        if not self.warehouse:
            raise BenchmarkError("the database has no warehouse")
        self.stock = self.warehouse.lot_stock_id
        self.categ = self._category()
        self.serial = 0

    def _category(self):
        vals = {
            "name": "Backflush benchmark FIFO",
            "property_cost_method": "fifo",
            "property_valuation": self.args.valuation,
        }
        categ = self.env["product.category"].create(vals)
        if self.args.valuation == "real_time":
            fields_ = self.env[
                "product.category"
            ]._get_mandatory_stock_account_property_field_names()
            all_categ = self.env.ref("product.product_category_all")
            for fname in fields_:
                if not categ[fname] and all_categ[fname]:
                    categ[fname] = all_categ[fname]
            missing = [f for f in fields_ if not categ[f]]
            if missing:
                raise BenchmarkError(
                    "automated valuation needs stock accounts; the category lacks "
                    + ", ".join(missing)
                )
        return categ

    def products(self, count, prefix, cost=True):
        vals = [
            {
                "name": f"BF bench {prefix} {i:04d}",
                "default_code": f"BFB-{prefix}-{i:04d}",
                "type": "consu",
                "is_storable": True,
                "categ_id": self.categ.id,
                "standard_price": 1.0 + (i % 7) if cost else 0.0,
            }
            for i in range(count)
        ]
        return self.env["product.product"].create(vals)

    def stock_up(self, products, qty):
        quants = (
            self.env["stock.quant"]
            .with_context(inventory_mode=True)
            .create(
                [
                    {
                        "product_id": product.id,
                        "location_id": self.stock.id,
                        "inventory_quantity": qty,
                    }
                    for product in products
                ]
            )
        )
        quants.action_apply_inventory()

    def bom(self, product, components, scrap_percent=0.0):
        Bom = self.env["mrp.bom"]
        vals = {
            "product_tmpl_id": product.product_tmpl_id.id,
            "product_id": product.id,
            "product_qty": 1.0,
            "type": "normal",
            "consumption": "warning",
            "bom_line_ids": [
                (0, 0, self._bom_line_vals(component, scrap_percent))
                for component in components
            ],
        }
        for fname, value in (
            ("backflush_mode", "finish"),
            ("backflush_shortage_policy", "block"),
            ("backflush_substitution", "none"),
        ):
            if fname in Bom._fields:
                vals[fname] = value
        return Bom.create(vals)

    def count_history(self, boms, start, months):
        """Done moves of ``months`` months from ``start`` (a datetime) for
        the components of ``boms``, inserted in one statement; returns the
        number of rows. See scenario (v)."""
        from odoo.tools import SQL

        mo = self.env["mrp.production"].create(
            {"product_id": boms[0].product_id.id, "bom_id": boms[0].id}
        )
        product = boms[0].bom_line_ids[0].product_id.with_company(self.company)
        production = product.property_stock_production
        loss = product.property_stock_inventory
        customer = self.env.ref("stock.stock_location_customers")
        qty = self.args.mo_qty * self.args.line_qty
        cols = defaultdict(list)

        def add(product, uom, qty, src, dst, date, inventory=False, line=None):
            for name, value in (
                ("product", product),
                ("uom", uom),
                ("qty", qty),
                ("src", src),
                ("dst", dst),
                ("date", date),
                ("inventory", inventory),
                ("line", line),
                ("role", "component" if line else None),
                ("mo", mo.id if line else None),
            ):
                cols[name].append(value)

        lines_by_product = defaultdict(list)
        for line in boms.bom_line_ids:
            lines_by_product[line.product_id].append(line)
        stock, day = self.stock.id, datetime.timedelta(days=1)
        for component, lines in lines_by_product.items():
            uom = component.uom_id.id
            add(component.id, uom, 1e6, loss.id, stock, start - day, True)
            for month in range(months):
                first = start + datetime.timedelta(days=30 * month)
                for line in lines:
                    for week in range(4):
                        date = first + datetime.timedelta(days=1 + 7 * week)
                        add(
                            component.id,
                            uom,
                            qty,
                            stock,
                            production.id,
                            date,
                            line=line.id,
                        )
                add(component.id, uom, qty, stock, customer.id, first + 19 * day)
                lost = 0.02 * qty * 4 * len(lines)
                add(component.id, uom, lost, stock, loss.id, first + 28 * day, True)
        self.env.cr.execute(
            SQL(
                """
INSERT INTO stock_move (name, company_id, product_id, product_uom, product_uom_qty,
                        product_qty, quantity, location_id, location_dest_id, date,
                        state, procure_method, picked, is_inventory, bom_line_id,
                        backflush_role, raw_material_production_id)
     SELECT 'BF bench count history', %s, r.product, r.uom, r.qty, r.qty, r.qty,
            r.src, r.dst, r.date, 'done', 'make_to_stock', TRUE, r.inventory,
            r.line, r.role, r.mo
       FROM unnest(%s::int[], %s::int[], %s::float8[], %s::int[], %s::int[],
                   %s::timestamp[], %s::bool[], %s::int[], %s::varchar[], %s::int[])
            AS r(product, uom, qty, src, dst, date, inventory, line, role, mo)
""",
                self.company.id,
                *(
                    cols[name]
                    for name in (
                        "product",
                        "uom",
                        "qty",
                        "src",
                        "dst",
                        "date",
                        "inventory",
                        "line",
                        "role",
                        "mo",
                    )
                ),
            )
        )
        return len(cols["product"])

    def _bom_line_vals(self, component, scrap_percent):
        vals = {"product_id": component.id, "product_qty": self.args.line_qty}
        Line = self.env["mrp.bom.line"]
        if "scrap_percent" in Line._fields:
            vals["scrap_percent"] = scrap_percent
        if "scrap_fixed_qty" in Line._fields:
            vals["scrap_fixed_qty"] = 0.0
        if "backflush_mode" in Line._fields:
            vals["backflush_mode"] = "bom"
        return vals

    def productions(self, env, bom, count):
        """``count`` confirmed (and reserved) MOs of ``bom``, as ``env``'s user."""
        MO = env["mrp.production"]
        mos = MO.create(
            [
                {
                    "product_id": bom.product_id.id,
                    "bom_id": bom.id,
                    "product_qty": self.args.mo_qty,
                    "picking_type_id": self.warehouse.manu_type_id.id,
                }
                for _i in range(count)
            ]
        )
        mos.action_confirm()
        if not self.args.no_reserve:
            mos.action_assign()
        return mos


# ----------------------------------------------------------------------
# Measurement
# ----------------------------------------------------------------------
def sql_count():
    import odoo.sql_db

    return odoo.sql_db.sql_counter


class Sample(tuple):
    """(wall seconds, queries, CPU seconds of this Python process)."""

    def __new__(cls, seconds, queries, cpu):
        return super().__new__(cls, (seconds, queries, cpu))

    seconds = property(lambda self: self[0])
    queries = property(lambda self: self[1])
    cpu = property(lambda self: self[2])


def measure(env, action):
    """(Sample, result) of ``action()`` plus the flush a commit would do."""
    cr = env.cr
    cr.flush()
    env.invalidate_all()
    q0, c0, t0 = sql_count(), time.process_time(), time.perf_counter()
    result = action()
    cr.flush()
    seconds, queries = time.perf_counter() - t0, sql_count() - q0
    return Sample(seconds, queries, time.process_time() - c0), result


@contextlib.contextmanager
def rolled_back(env):
    """Everything inside leaves no trace: savepoint rolled back, caches cleared."""
    savepoint = env.cr.savepoint()
    try:
        yield
    finally:
        savepoint.close(rollback=True)
        env.invalidate_all(flush=False)


class Bench:
    def __init__(self, env, su_env, fixture, overrides, args):
        self.env = env
        self.su_env = su_env
        self.fixture = fixture
        self.overrides = overrides
        self.args = args
        self.samples = defaultdict(list)  # (scenario, mode) -> [Sample]
        self.verified = set()

    def _check(self, mos, mode, with_scrap=False):
        """Mark Done happened, and the vanilla patch did (not) apply."""
        mos = mos.with_env(self.su_env)
        not_done = mos.filtered(lambda p: p.state != "done")
        if not_done:
            raise BenchmarkError(
                f"{mode}: Mark Done left {', '.join(not_done.mapped('name'))} "
                f"in state {', '.join(set(not_done.mapped('state')))}"
            )
        runs = self.su_env["mrp.backflush.run"].search(
            [("production_id", "in", mos.ids)]
        )
        unit_qty = any(mos.move_raw_ids.mapped("backflush_unit_qty"))
        if mode == VANILLA and (runs or unit_qty):
            raise BenchmarkError(
                "vanilla mode is not vanilla: the module's overrides still ran "
                f"({len(runs)} backflush runs, backflush_unit_qty set: {unit_qty})"
            )
        if mode == BACKFLUSH and (len(runs) != len(mos) or not unit_qty):
            raise BenchmarkError(
                f"module mode did not backflush: {len(runs)} runs for {len(mos)} MOs"
            )
        if mode not in self.verified:
            self.verified.add(mode)
            log(
                f"  checked {mode} mode: {len(runs)} backflush runs for {len(mos)} "
                f"MOs, backflush_unit_qty {'set' if unit_qty else 'unset'}"
            )
        if with_scrap:
            scrap = mos.move_raw_ids.filtered(
                lambda m: m.backflush_role == "planned_scrap"
            )
            if not scrap:
                raise BenchmarkError("scrap scenario posted no planned-scrap move")

    def mark_done_run(self, key, mode, bom, count, record=True, with_scrap=False):
        with rolled_back(self.env), mode_patch(mode, self.overrides):
            mos = self.fixture.productions(self.env, bom, count)
            sample, res = measure(
                self.env,
                lambda: self.env["mrp.production"].browse(mos.ids).button_mark_done(),
            )
            if (
                res is not True
                and isinstance(res, dict)
                and res.get("res_model")
                in ("mrp.consumption.warning", "mrp.production.backorder")
            ):
                raise BenchmarkError(
                    f"{mode}: Mark Done opened the wizard {res['res_model']}"
                )
            self._check(mos, mode, with_scrap)
        if record:
            self.samples[key, mode].append(sample)
        return sample

    def alternate(self, key, bom, count, label):
        for _i in range(self.args.warmup):
            for mode in (VANILLA, BACKFLUSH):
                self.mark_done_run(key, mode, bom, count, record=False)
        for i in range(self.args.repeat):
            order = (VANILLA, BACKFLUSH) if i % 2 == 0 else (BACKFLUSH, VANILLA)
            for mode in order:
                smp = self.mark_done_run(key, mode, bom, count)
                log(
                    f"  {label} run {i + 1}/{self.args.repeat} {mode:7s} "
                    f"{smp.seconds:8.3f} s (cpu {smp.cpu:7.3f}) "
                    f"{smp.queries:7d} queries"
                )

    def module_only(self, key, bom, count, label, with_scrap=False):
        for _i in range(self.args.warmup):
            self.mark_done_run(
                key, BACKFLUSH, bom, count, record=False, with_scrap=with_scrap
            )
        for i in range(self.args.repeat):
            smp = self.mark_done_run(key, BACKFLUSH, bom, count, with_scrap=with_scrap)
            log(
                f"  {label} run {i + 1}/{self.args.repeat} module  "
                f"{smp.seconds:8.3f} s (cpu {smp.cpu:7.3f}) {smp.queries:7d} queries"
            )

    def background_run(self, key, bom, count, record=True):
        """List Mark Done above the threshold: the queueing request, then
        the scheduler's batches until the queue is empty (one Sample each
        for the request and for all batches together)."""
        MO = self.env["mrp.production"]
        with rolled_back(self.env):
            self.su_env.company.backflush_background_threshold = min(50, count - 1)
            mos = self.fixture.productions(self.env, bom, count)
            request, res = measure(
                self.env,
                lambda: (
                    MO.browse(mos.ids)
                    .with_context(active_model="mrp.production", active_ids=mos.ids)
                    .button_mark_done()
                ),
            )
            if not isinstance(res, dict) or res.get("tag") != "display_notification":
                raise BenchmarkError(f"list Mark Done of {count} MOs was not queued")
            queued = MO.with_env(self.su_env)
            cron = self.su_env["mrp.backflush.queue"]

            def run_queue():
                domain = [("backflush_queue_user_id", "!=", False)]
                while queued.search_count(domain):
                    cron._cron_backflush_mark_done(batch_size=20)

            background, _res = measure(self.su_env, run_queue)
            self._check(mos, BACKFLUSH)
        if record:
            self.samples[key, BACKFLUSH].append(request)
            self.samples[key + "b", BACKFLUSH].append(background)
        return request, background

    def background(self, key, bom, count):
        for _i in range(self.args.warmup):
            self.background_run(key, bom, count, record=False)
        for i in range(self.args.repeat):
            request, background = self.background_run(key, bom, count)
            log(
                f"  {key} run {i + 1}/{self.args.repeat} request "
                f"{request.seconds:8.3f} s (cpu {request.cpu:7.3f}) "
                f"{request.queries:7d} queries; background {background.seconds:8.3f} s "
                f"(cpu {background.cpu:7.3f}) {background.queries:7d} queries"
            )

    def preview(self, key, bom):
        with rolled_back(self.env):
            t0 = time.perf_counter()
            mo = self.fixture.productions(self.env, bom, 1)
            self.env.cr.flush()
            log(
                f"  preview MO of {len(mo.move_raw_ids)} components confirmed in "
                f"{time.perf_counter() - t0:.1f} s (not measured)"
            )
            Preview = self.env["mrp.backflush.preview"]
            for i in range(self.args.warmup + self.args.repeat):
                with rolled_back(self.env):
                    smp, wizard = measure(
                        self.env,
                        lambda: Preview.create({"production_ids": [(6, 0, mo.ids)]}),
                    )
                    lines = len(wizard.line_ids)
                if lines < len(bom.bom_line_ids):
                    raise BenchmarkError(
                        f"preview has {lines} lines for a "
                        f"{len(bom.bom_line_ids)}-line BOM"
                    )
                if i >= self.args.warmup:
                    self.samples[key, BACKFLUSH].append(smp)
                    log(
                        f"  preview run {i + 1 - self.args.warmup}/{self.args.repeat} "
                        f"{smp.seconds:8.3f} s (cpu {smp.cpu:7.3f}) "
                        f"{smp.queries:7d} queries ({lines} lines)"
                    )

    def count_advice(self, key, start, months, n_lines):
        """Advice from counts over the history, then the Count Variance
        pivot (per component and month), each in its own measured run."""
        Advice = self.env["mrp.bom.backflush.advice"]
        date_from = start.date()
        date_to = (start + datetime.timedelta(days=30 * months)).date()
        for i in range(self.args.warmup + self.args.repeat):
            with rolled_back(self.env):
                advice = Advice.create(
                    {
                        "basis": "counts",
                        "date_from": date_from,
                        "date_to": date_to,
                        "threshold_percent": 1.0,
                    }
                )
                smp, _res = measure(self.env, advice.action_compute)
                suggested = advice.line_ids.filtered("suggestion_type")
                values = set(suggested.mapped(lambda al: round(al.suggested_value, 1)))
            if len(suggested) != n_lines or values != {1.8}:
                raise BenchmarkError(
                    f"advice from counts suggested {len(suggested)} lines for "
                    f"{n_lines} (values {sorted(values)[:5]}, expected 1.8 %)"
                )
            if i >= self.args.warmup:
                self.samples[key, BACKFLUSH].append(smp)
                log(
                    f"  advice run {i + 1 - self.args.warmup}/{self.args.repeat} "
                    f"{smp.seconds:8.3f} s (cpu {smp.cpu:7.3f}) "
                    f"{smp.queries:7d} queries ({n_lines} suggestions)"
                )
        Variance = self.env["mrp.backflush.count.variance"]
        for i in range(self.args.warmup + self.args.repeat):
            smp, groups = measure(
                self.env,
                lambda: Variance.read_group(
                    [("date", ">=", date_from), ("kind", "!=", "first")],
                    ["outflow_qty:sum", "variance_qty:sum"],
                    ["product_id", "date:month"],
                    lazy=False,
                ),
            )
            if i >= self.args.warmup:
                self.samples[key + "p", BACKFLUSH].append(smp)
                log(
                    f"  pivot run {i + 1 - self.args.warmup}/{self.args.repeat} "
                    f"{smp.seconds:8.3f} s (cpu {smp.cpu:7.3f}) "
                    f"{smp.queries:7d} queries ({len(groups)} cells)"
                )
        requests = self._count_pivot_screen(date_from)
        for i in range(self.args.warmup + self.args.repeat):
            # the web client sends the screen's requests at once (one per
            # worker): the screen waits for the slowest
            timed = [measure(self.env, request) for request in requests]
            smp = max((sample for sample, _groups in timed), key=lambda s: s.seconds)
            if i >= self.args.warmup:
                self.samples[key + "s", BACKFLUSH].append(smp)
                log(
                    f"  pivot screen run {i + 1 - self.args.warmup}/"
                    f"{self.args.repeat} {smp.seconds:8.3f} s (cpu {smp.cpu:7.3f}) "
                    f"{smp.queries:7d} queries, slowest of "
                    + " + ".join(f"{sample.seconds:.3f} s" for sample, _g in timed)
                    + f" ({sum(len(groups) for _s, groups in timed)} cells)"
                )

    def _count_pivot_screen(self, date_from):
        """The Count Variance pivot as it opens, from the period's start: a
        request per pair of row and column prefixes of the default pivot
        view (a read_group with the action's default filter), as the web
        client issues them."""
        from lxml import etree

        Variance = self.env["mrp.backflush.count.variance"]
        arch = Variance.get_views([(False, "pivot")])["views"]["pivot"]["arch"]
        root = etree.fromstring(arch)
        axes = {"row": [], "col": []}
        measures = []
        for node in root.iter("field"):
            name, kind = node.get("name"), node.get("type")
            if kind == "measure":
                measures.append(f"{name}:sum")
            elif kind in axes:
                interval = node.get("interval")
                axes[kind].append(f"{name}:{interval}" if interval else name)
        domain = [("date", ">=", date_from), ("kind", "!=", "first")]

        return [
            functools.partial(
                Variance.read_group,
                domain,
                measures,
                axes["row"][:r] + axes["col"][:c],
                lazy=False,
            )
            for r in range(len(axes["row"]) + 1)
            for c in range(len(axes["col"]) + 1)
        ]


def log(message):
    print(message, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------
# Query analysis (--explain)
# ----------------------------------------------------------------------
_NUM = re.compile(r"\b\d+\b")
_SPACE = re.compile(r"\s+")
_VALUES = re.compile(r" FROM \(VALUES | VALUES ")
_SAVEPOINT = re.compile(r'(SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT) "[^"]+"')


def normalize_sql(query):
    if not isinstance(query, str):
        query = getattr(query, "code", None) or str(query)
    query = _SAVEPOINT.sub(r"\1 sp", query)
    query = _SPACE.sub(" ", _NUM.sub("N", query)).strip()
    # Batched writes differ only by their number of rows: keep the head.
    query = _VALUES.split(query, maxsplit=1)[0]
    return query[:220]


NO_SITE = "(no module frame: ORM flush, or vanilla code)"
VANILLA_SITE = "(vanilla code: through our super() calls, or no module frame)"


def vanilla_site(site):
    return site == NO_SITE or site.startswith("super() at ")


def module_site():
    """Innermost frame of the module's own code in the stack, as
    ``file:line function``; ``super() at ...`` when that line is a super()
    call (the query then comes from the vanilla code it calls)."""
    root = str(REPO) + os.sep
    for frame in reversed(traceback.extract_stack()[:-3]):
        if frame.filename.startswith("<"):
            continue
        path = os.path.realpath(frame.filename)
        if not path.startswith(root) or path.startswith(str(REPO / "scripts")):
            continue
        where = f"{os.path.relpath(path, REPO)}:{frame.lineno} {frame.name}"
        return f"super() at {where}" if "super()" in (frame.line or "") else where
    return NO_SITE


@contextlib.contextmanager
def record_queries(sink):
    import odoo.sql_db

    original = odoo.sql_db.Cursor.execute

    @functools.wraps(original)
    def execute(self, query, params=None, log_exceptions=True):
        sink[normalize_sql(query), module_site()] += 1
        return original(self, query, params, log_exceptions)

    with mock.patch.object(odoo.sql_db.Cursor, "execute", execute):
        yield


def profile_mark_done(bench, bom, mode):
    """Counter {(sql, site): n} of one Mark Done of one MO of ``bom``."""
    bench.mark_done_run(None, mode, bom, 1, record=False)  # warm caches
    sink = Counter()
    with rolled_back(bench.env), mode_patch(mode, bench.overrides):
        mos = bench.fixture.productions(bench.env, bom, 1)
        bench.env.cr.flush()
        bench.env.invalidate_all()
        with record_queries(sink):
            bench.env["mrp.production"].browse(mos.ids).button_mark_done()
            bench.env.cr.flush()
    return sink


def compare_profiles(base, other, small, big):
    """Extra queries of ``other`` over ``base`` ({size: Counter}), by SQL
    text and by module site, with their growth per component."""
    span = (big - small) or 1

    def diff(key_fn):
        table = defaultdict(
            lambda: [0, 0, 0, 0]
        )  # base@small, other@small, base@big, other@big
        for col, counter in enumerate(
            (base[small], other[small], base[big], other[big])
        ):
            for (sql, site), n in counter.items():
                table[key_fn(sql, site)][col] += n
        rows = []
        for key, (b_s, o_s, b_b, o_b) in table.items():
            extra_s, extra_b = o_s - b_s, o_b - b_b
            if extra_s or extra_b:
                rows.append(
                    {
                        "key": key,
                        "extra_small": extra_s,
                        "extra_big": extra_b,
                        "per_component": (extra_b - extra_s) / span,
                        "base_big": b_b,
                        "other_big": o_b,
                    }
                )
        rows.sort(key=lambda r: (-abs(r["per_component"]), -abs(r["extra_big"])))
        return rows

    total = {
        size: (sum(base[size].values()), sum(other[size].values()))
        for size in (small, big)
    }
    return {
        "sizes": [small, big],
        "totals": {f"base@{k}": v[0] for k, v in total.items()}
        | {f"other@{k}": v[1] for k, v in total.items()},
        "by_site": diff(lambda sql, site: VANILLA_SITE if vanilla_site(site) else site),
        "by_sql": diff(lambda sql, site: sql),
        "by_sql_site": diff(lambda sql, site: f"{site} | {sql}"),
    }


def explain(bench, fixture, components, bom_scrap_percent):
    """Extra queries of the module on one Mark Done at n and n/2 components
    (and of planned scrap, module with scrap vs module without)."""
    small, big = max(1, len(components) // 2), len(components)
    profiles = defaultdict(dict)
    for size in (small, big):
        product = fixture.products(2, f"XF{size}", cost=False)
        bom = fixture.bom(product[0], components[:size])
        for mode in (VANILLA, BACKFLUSH):
            profiles[mode][size] = profile_mark_done(bench, bom, mode)
        if bom_scrap_percent:
            bom_s = fixture.bom(product[1], components[:size], bom_scrap_percent)
            profiles["scrap"][size] = profile_mark_done(bench, bom_s, BACKFLUSH)
    out = {
        "module_vs_vanilla": compare_profiles(
            profiles[VANILLA], profiles[BACKFLUSH], small, big
        )
    }
    if bom_scrap_percent:
        out["scrap_vs_module"] = compare_profiles(
            profiles[BACKFLUSH], profiles["scrap"], small, big
        )
    return out


def print_comparison(title, data, base_name, other_name, top=25):
    small, big = data["sizes"]
    t = data["totals"]
    span = (big - small) or 1
    extra_s = t[f"other@{small}"] - t[f"base@{small}"]
    extra_b = t[f"other@{big}"] - t[f"base@{big}"]
    slope = (extra_b - extra_s) / span
    print()
    print(f"{title}: one Mark Done at {small} and {big} components")
    print(
        f"  {base_name} {t[f'base@{small}']} / {t[f'base@{big}']} queries, "
        f"{other_name} {t[f'other@{small}']} / {t[f'other@{big}']}: "
        f"extra {extra_s:+d} / {extra_b:+d} "
        f"=> {slope:+.2f} per component + {extra_b - slope * big:+.0f} constant"
    )
    for section, label in (
        ("by_site", "module code issuing them (innermost frame)"),
        ("by_sql", "SQL statement"),
    ):
        print(f"  Extra queries by {label}:")
        print(f"    {'@' + str(small):>6} {'@' + str(big):>6} {'/comp':>6}  key")
        for row in data[section][:top]:
            print(
                f"    {row['extra_small']:+6d} {row['extra_big']:+6d} "
                f"{row['per_component']:+6.2f}  {row['key'][:160]}"
            )


def print_explain(data):
    print_comparison(
        "Module vs vanilla", data["module_vs_vanilla"], "vanilla", "module"
    )
    if "scrap_vs_module" in data:
        print_comparison(
            "Planned scrap vs no scrap (module)",
            data["scrap_vs_module"],
            "no scrap",
            "scrap",
        )


# ----------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------
def median(values):
    return statistics.median(values) if values else float("nan")


def stats(samples):
    return {
        "seconds": median([x.seconds for x in samples]),
        "seconds_min": min(x.seconds for x in samples),
        "cpu": median([x.cpu for x in samples]),
        "queries": median([x.queries for x in samples]),
    }


def summarize(bench, scenarios):
    """Rows of the table; ``scenarios`` = [(key, label, MOs, components/MO,
    vanilla reference key or None for the scenario's own)]."""
    rows = []
    for key, label, n_mos, n_comp, reference in scenarios:
        ref = bench.samples.get((reference or key, VANILLA))
        for mode in (VANILLA, BACKFLUSH):
            samples = bench.samples.get((key, mode))
            if not samples:
                continue
            st = stats(samples)
            row = dict(
                scenario=key,
                label=label,
                mode=mode,
                runs=len(samples),
                mos=n_mos,
                components_per_mo=n_comp,
                **st,
                seconds_all=[x.seconds for x in samples],
                cpu_all=[x.cpu for x in samples],
                queries_all=[x.queries for x in samples],
                seconds_per_mo=st["seconds"] / n_mos,
                queries_per_mo=st["queries"] / n_mos,
                ms_per_component=1000 * st["seconds"] / (n_mos * n_comp),
                queries_per_component=st["queries"] / (n_mos * n_comp),
            )
            if mode == BACKFLUSH and ref:
                v = stats(ref)
                row.update(
                    vanilla_reference=reference or key,
                    time_ratio=st["seconds"] / v["seconds"],
                    time_ratio_min=st["seconds_min"] / v["seconds_min"],
                    cpu_ratio=st["cpu"] / v["cpu"],
                    query_ratio=st["queries"] / v["queries"],
                    extra_queries_per_mo=(st["queries"] - v["queries"]) / n_mos,
                    extra_queries_per_component=(st["queries"] - v["queries"])
                    / (n_mos * n_comp),
                )
            rows.append(row)
    return rows


def print_table(rows):
    head = (
        f"{'scenario':<30} {'mode':<7} {'runs':>4} {'median s':>8} {'min s':>7} "
        f"{'cpu s':>7} {'queries':>7} {'s/MO':>6} {'q/MO':>7} {'ms/comp':>7} "
        f"{'q/comp':>6} | {'t ratio':>7} {'min':>6} {'cpu':>6} {'q ratio':>7} "
        f"{'+q/MO':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        ratio = ""
        if "time_ratio" in r:
            ratio = (
                f"{r['time_ratio']:7.3f} {r['time_ratio_min']:6.3f} "
                f"{r['cpu_ratio']:6.3f} "
                f"{r['query_ratio']:7.3f} {r['extra_queries_per_mo']:+7.1f}"
            )
            if r.get("vanilla_reference") != r["scenario"]:
                ratio += f"  (vs vanilla {r['vanilla_reference']})"
        print(
            f"{r['label']:<30} {r['mode']:<7} {r['runs']:>4} {r['seconds']:8.3f} "
            f"{r['seconds_min']:7.3f} {r['cpu']:7.3f} {r['queries']:7.0f} "
            f"{r['seconds_per_mo']:6.3f} {r['queries_per_mo']:7.1f} "
            f"{r['ms_per_component']:7.2f} {r['queries_per_component']:6.2f} | {ratio}"
        )


def print_verdicts(rows, args):
    by = {(r["scenario"], r["mode"]): r for r in rows}
    print()
    a = by.get(("a", BACKFLUSH))
    if a:
        print(
            f"(a) {args.components} components: module/vanilla time "
            f"{a['time_ratio']:.3f} median, {a['time_ratio_min']:.3f} best, "
            f"{a['cpu_ratio']:.3f} CPU (budget 1.05); "
            f"{a['extra_queries_per_mo']:+.0f} queries (budget: a constant; --explain "
            f"gives the growth per component)"
        )
    b_keys = sorted(
        (k for k in {r["scenario"] for r in rows} if k.startswith("b")),
        key=lambda k: int(k[1:]),
    )
    if b_keys:
        for k in b_keys:
            r = by.get((k, BACKFLUSH))
            if r:
                print(
                    f"({k}) {r['mos']} MOs x {r['components_per_mo']}: time ratio "
                    f"{r['time_ratio']:.3f} median, {r['time_ratio_min']:.3f} best, "
                    f"{r['cpu_ratio']:.3f} CPU (budget 1.05); "
                    f"{r['extra_queries_per_mo']:+.1f} queries per MO"
                )
        if len(b_keys) > 1:
            lo, hi = b_keys[0], b_keys[-1]
            for mode in (VANILLA, BACKFLUSH):
                r_lo, r_hi = by.get((lo, mode)), by.get((hi, mode))
                if r_lo and r_hi:
                    time_growth = r_hi["seconds_per_mo"] / r_lo["seconds_per_mo"]
                    query_growth = r_hi["queries_per_mo"] / r_lo["queries_per_mo"]
                    print(
                        f"    linearity {mode}: per MO "
                        f"{r_lo['seconds_per_mo']:.3f} s / "
                        f"{r_lo['queries_per_mo']:.1f} q at {r_lo['mos']} MOs, "
                        f"{r_hi['seconds_per_mo']:.3f} s / "
                        f"{r_hi['queries_per_mo']:.1f} q at {r_hi['mos']} MOs "
                        f"(time/MO x{time_growth:.2f}, queries/MO x{query_growth:.2f})"
                    )
    s = by.get(("s", BACKFLUSH))
    if s:
        print(
            f"(s) planned scrap {args.scrap_percent:g} %: time x{s['time_ratio']:.3f} "
            f"median, x{s['cpu_ratio']:.3f} CPU, {s['extra_queries_per_mo']:+.0f} "
            f"queries ({s['extra_queries_per_component']:+.1f} per component) vs "
            f"vanilla (a) without scrap"
        )
    m = by.get(("m", BACKFLUSH))
    if m:
        print(
            f"(m) {m['mos']} MOs x {m['components_per_mo']}: module/vanilla time "
            f"{m['time_ratio']:.3f} median, {m['cpu_ratio']:.3f} CPU, queries "
            f"{m['query_ratio']:.3f} ({m['extra_queries_per_mo']:+.1f} per MO; "
            f"budget: below 1)"
        )
    ms = by.get(("ms", BACKFLUSH))
    if ms and "time_ratio" in ms:
        print(
            f"(ms) {args.scrap_percent:g} % scrap on every line: time "
            f"x{ms['time_ratio']:.3f} median, x{ms['cpu_ratio']:.3f} CPU, queries "
            f"x{ms['query_ratio']:.3f} vs vanilla (m) without scrap (stretch: 1.5)"
        )
    q, qb = by.get(("q", BACKFLUSH)), by.get(("qb", BACKFLUSH))
    if q and qb:
        print(
            f"(q) list Mark Done of {q['mos']} MOs: the request takes "
            f"{q['seconds']:.3f} s / {q['queries']:.0f} queries "
            + (
                f"({q['time_ratio']:.3f} of vanilla (m)); "
                if "time_ratio" in q
                else "; "
            )
            + f"the scheduler then {qb['seconds']:.3f} s / {qb['queries']:.0f} "
            "queries in batches of 20"
            + (
                f" ({qb['time_ratio']:.3f} of vanilla (m))"
                if "time_ratio" in qb
                else ""
            )
        )
    for key, what in (
        ("v", "advice from counts"),
        ("vp", "Count Variance per component and month"),
        ("vs", "Count Variance pivot as it opens (its slowest request)"),
    ):
        v = by.get((key, BACKFLUSH))
        if v:
            print(
                f"({key}) {what}, {args.advice_months} months x "
                f"{args.advice_components} components: {v['seconds']:.3f} s median "
                f"({v['cpu']:.3f} s CPU), {v['queries']:.0f} queries (budget 1 s: "
                f"{'met' if v['seconds'] < 1.0 else 'MISSED'})"
            )
    c = by.get(("c", BACKFLUSH))
    if c:
        print(
            f"(c) preview of {args.preview_lines} lines: {c['seconds']:.3f} s median "
            f"(target < 0.5 s: {'met' if c['seconds'] < 0.5 else 'MISSED'}), "
            f"{c['queries']:.0f} queries"
        )


def count_advice_fixture(fixture, su_env, args):
    """Components, BOMs and history of scenario (v): (start, BOM lines)."""
    t1 = time.perf_counter()
    n = args.advice_components
    parts = fixture.products(n, "V")
    products = fixture.products(n // 2, "VF", cost=False)
    # one BOM per pair of components, with the next pair: two lines each
    boms = su_env["mrp.bom"]
    for i, product in enumerate(products):
        pair = parts[2 * i : 2 * i + 2]
        following = parts[(2 * i + 2) % n : (2 * i + 2) % n + 2]
        boms |= fixture.bom(product, pair | following)
    start = datetime.datetime(2025, 1, 1)
    rows = fixture.count_history(boms, start, args.advice_months)
    su_env.cr.flush()
    if not args.no_analyze:
        analyze(su_env)
    log(
        f"(v) advice from counts: {rows} done moves for {n} components "
        f"on {len(boms.bom_line_ids)} BOM lines written in "
        f"{time.perf_counter() - t1:.1f} s"
    )
    return start, len(boms.bom_line_ids)


def count_advice_scenario(bench, fixture, su_env, args):
    """Scenario (v) when selected: its rows for the summary."""
    if "v" not in args.scenarios:
        return []
    start, n_lines = count_advice_fixture(fixture, su_env, args)
    bench.count_advice("v", start, args.advice_months, n_lines)
    months, n = args.advice_months, args.advice_components
    return [
        ("v", f"(v) count advice {months} mo", 1, n, None),
        ("vp", f"(v) count pivot {months} mo", 1, n, None),
        ("vs", f"(v) count screen {months} mo", 1, n, None),
    ]


def run_mass_scenarios(bench, args, bom, bom_scrap):
    """Scenarios m, ms and q; their rows for ``summarize``."""
    mass, n_comp = args.mass_mos, args.mo_components
    reference = "m" if "m" in args.scenarios else None
    scenarios = []
    if "m" in args.scenarios:
        log(f"(m) {mass} MOs x {n_comp} components")
        bench.alternate("m", bom, mass, "m")
        scenarios.append(("m", f"(m) {mass} MOs x {n_comp} comp", mass, n_comp, None))
    if "ms" in args.scenarios and bom_scrap:
        label = f"(ms) {mass} MOs x {n_comp} {args.scrap_percent:g}% scrap"
        log(label)
        bench.module_only("ms", bom_scrap, mass, "ms", with_scrap=True)
        scenarios.append(("ms", label, mass, n_comp, reference))
    if "q" in args.scenarios and mass > 1:
        log(f"(q) list Mark Done of {mass} MOs in the background")
        bench.background("q", bom, mass)
        scenarios += [
            ("q", f"(q) {mass} MOs queue request", mass, n_comp, reference),
            ("qb", f"(q) {mass} MOs cron batches", mass, n_comp, reference),
        ]
    return scenarios


# ----------------------------------------------------------------------
def main(argv=None):
    args = parse_args(argv)
    try:
        registry = bootstrap(args)
    except BenchmarkError as exc:
        fail(f"Cannot start the benchmark: {exc}.")
    from odoo import SUPERUSER_ID, api

    cr = registry.cursor()
    results = {"args": {k: v for k, v in vars(args).items() if k != "odoo_args"}}
    results["args"]["scenarios"] = sorted(args.scenarios)
    try:
        su_env = api.Environment(cr, SUPERUSER_ID, {})
        if args.superuser:
            env = su_env
        else:
            admin = su_env.ref("base.user_admin")
            env = su_env(user=admin.id, context=admin.context_get())
        missing = check_schema(su_env)
        if missing:
            fail(
                f"Database {args.database!r} has an older {MODULE} than this code "
                f"(no column for {', '.join(missing[:5])}); update it with "
                f"odoo-bin -d {args.database} -u {MODULE}."
            )
        overrides = module_overrides(env)
        results["bypassed_in_vanilla"] = [
            f"{model}.{name} ({cls.__module__.removeprefix(MODULE_PKG + '.')})"
            for (cls, name), model in overrides
        ]
        log("vanilla mode bypasses: " + ", ".join(results["bypassed_in_vanilla"]))

        t0 = time.perf_counter()
        fixture = Fixture(su_env, args)
        n_comp = max(args.components, args.mo_components)
        components = fixture.products(n_comp, "C")
        stock_qty = (
            10 * args.mo_qty * args.line_qty * max(args.mos, args.mass_mos, 10) + 1000
        )
        fixture.stock_up(components, stock_qty)
        finished = fixture.products(4, "F", cost=False)
        bom_a = fixture.bom(finished[0], components[: args.components])
        bom_b = fixture.bom(finished[1], components[: args.mo_components])
        bom_s = bom_ms = None
        if args.scrap_percent and "scrap_percent" in env["mrp.bom.line"]._fields:
            bom_s = fixture.bom(
                finished[2], components[: args.components], args.scrap_percent
            )
            bom_ms = fixture.bom(
                finished[3], components[: args.mo_components], args.scrap_percent
            )
        su_env.cr.flush()
        if not args.no_analyze:
            analyze(su_env)
        log(
            f"setup: {n_comp} components in stock, BOMs created in "
            f"{time.perf_counter() - t0:.1f} s"
        )

        bench = Bench(env, su_env, fixture, overrides, args)
        scenarios = []
        if "a" in args.scenarios:
            log(f"(a) one MO, {args.components} components")
            bench.alternate("a", bom_a, 1, "a")
            scenarios.append(
                ("a", f"(a) 1 MO x {args.components} comp", 1, args.components, None)
            )
        if "b" in args.scenarios:
            for size in sorted({min(10, args.mos), args.mos}):
                key = f"b{size}"
                log(f"(b) {size} MOs x {args.mo_components} components")
                bench.alternate(key, bom_b, size, key)
                scenarios.append(
                    (
                        key,
                        f"(b) {size} MOs x {args.mo_components} comp",
                        size,
                        args.mo_components,
                        None,
                    )
                )
        if "s" in args.scenarios and bom_s:
            log(
                f"(s) one MO, {args.components} components, "
                f"{args.scrap_percent:g} % scrap"
            )
            bench.module_only("s", bom_s, 1, "s", with_scrap=True)
            scenarios.append(
                (
                    "s",
                    f"(s) 1 MO x {args.components} comp {args.scrap_percent:g}% scrap",
                    1,
                    args.components,
                    "a",
                )
            )
        scenarios += run_mass_scenarios(bench, args, bom_b, bom_ms)
        if "c" in args.scenarios:
            log(f"(c) preview of a {args.preview_lines}-line BOM")
            t1 = time.perf_counter()
            extra = fixture.products(max(0, args.preview_lines - n_comp), "P")
            if extra:
                fixture.stock_up(extra, stock_qty)
            preview_components = (components | extra)[: args.preview_lines]
            bom_c = fixture.bom(finished[2], preview_components)
            su_env.cr.flush()
            if not args.no_analyze:
                analyze(su_env)
            log(
                f"  {args.preview_lines}-line BOM ready in "
                f"{time.perf_counter() - t1:.1f} s"
            )
            bench.preview("c", bom_c)
            scenarios.append(
                (
                    "c",
                    f"(c) preview {args.preview_lines} lines",
                    1,
                    args.preview_lines,
                    None,
                )
            )

        scenarios += count_advice_scenario(bench, fixture, su_env, args)

        rows = summarize(bench, scenarios)
        results["rows"] = rows
        print()
        print(
            f"mrp_backflush benchmark on {args.database}: median of {args.repeat} runs "
            f"per mode, valuation {args.valuation}, MO qty {args.mo_qty:g}, "
            f"BOM line qty {args.line_qty:g}, user "
            f"{'__system__' if args.superuser else 'admin'}"
        )
        print_table(rows)
        print_verdicts(rows, args)
        if args.explain:
            log("explain: recording queries of one Mark Done per mode")
            results["explain"] = explain(
                bench,
                fixture,
                components[: args.components],
                args.scrap_percent if bom_s else 0.0,
            )
            print_explain(results["explain"])
    except BenchmarkError as exc:
        cr.rollback()
        fail(f"Benchmark failed: {exc}.", code=1)
    finally:
        cr.rollback()
        cr.close()
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2, default=str)
        log(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
