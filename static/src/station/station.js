/** @odoo-module **/
/* Copyright 2026 mrp_backflush authors
 * License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl). */
import {Component, onMounted, onWillStart, useRef, useState} from "@odoo/owl";
import {ConnectionLostError, RPCError} from "@web/core/network/rpc";
import {isSameGtin, loadGs1Parser, readGs1} from "./gs1";
import {useBus, useService} from "@web/core/utils/hooks";
import {_t} from "@web/core/l10n/translation";
import {barcodeService} from "@barcodes/barcode_service";
import {formatDate} from "@web/core/l10n/dates";
import {hasTouch} from "@web/core/browser/feature_detection";
import {playTone} from "./tone";
import {registry} from "@web/core/registry";
import {standardActionServiceProps} from "@web/webclient/actions/action_service";
import {useDebounced} from "@web/core/utils/timing";

// Colour of each outcome of the engine's preview (its words come from the server)
const OUTCOME_TONES = {
    covered: "success",
    recorded: "success",
    substitute: "success",
    partial: "success",
    replaced: "success",
    nothing: "secondary",
    negative: "warning",
    defer: "warning",
    block: "danger",
    lot_required: "danger",
    archived: "danger",
    waits: "danger",
};

function newAttemptKey() {
    // getRandomValues also works on a tablet served over plain http
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return (
        "station-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")
    );
}

function parseQty(value) {
    const qty = Number.parseFloat(String(value).replace(",", "."));
    return Number.isFinite(qty) ? qty : NaN;
}

/**
 * Shop-floor station: scan an order, read the engine's preview of it, enter
 * the quantity and lots, press Done; backflush_report posts it and the
 * screen says what happened, then waits for the next scan.
 */
export class BackflushStation extends Component {
    static template = "mrp_backflush.BackflushStation";
    static props = {...standardActionServiceProps};

    setup() {
        this.orm = useService("orm");
        this.company = useService("company");
        this.scanInput = useRef("scanInput");
        this.state = useState({
            scan: "",
            loading: false,
            posting: false,
            order: null,
            code: "",
            qty: "",
            finishedLot: "",
            lots: [],
            banner: this.waitingBanner(),
        });
        // Kept while an answer to Done is unknown (network error): pressing
        // Done again then replays the same key and cannot post twice.
        this.attemptKey = null;
        this.lotSequence = 0;
        this.previewSequence = 0;
        this.refreshPreview = useDebounced(() => this.loadPreview(), 400);
        useBus(this.env.services.barcode.bus, "barcode_scanned", (ev) =>
            this.onScan(ev.detail.barcode)
        );
        onWillStart(async () => {
            try {
                this.parser = await loadGs1Parser(
                    this.orm,
                    this.company.currentCompany.id
                );
            } catch {
                // Without a GS1 nomenclature, lots are typed in
                this.parser = null;
            }
        });
        onMounted(() => this.focusScan());
    }

    // ------------------------------------------------------------------
    // Display helpers
    // ------------------------------------------------------------------

    get order() {
        return this.state.order;
    }

    get finishedTracked() {
        return Boolean(this.order && this.order.production.tracking !== "none");
    }

    get doneDisabled() {
        return this.state.posting || this.state.loading;
    }

    waitingBanner() {
        return {
            tone: "info",
            title: _t("Scan a manufacturing order or a work order"),
            messages: [],
        };
    }

    isTracked(line) {
        return line.tracking === "lot" || line.tracking === "serial";
    }

    /** backflush_report takes the lots of components named by barcode or reference. */
    canRecordLot(line) {
        return (
            this.isTracked(line) &&
            line.role !== "substitute" &&
            Boolean(line.barcode || line.default_code)
        );
    }

    outcomeTone(line) {
        return OUTCOME_TONES[line.outcome] || "secondary";
    }

    outcomeLabel(line) {
        return line.outcome_label || line.outcome || "";
    }

    formatExpiry(expiry) {
        return formatDate(luxon.DateTime.fromJSDate(expiry));
    }

    lotNeedsCode(line) {
        return (
            this.isTracked(line) &&
            line.role !== "substitute" &&
            !line.barcode &&
            !line.default_code
        );
    }

    productKey(line) {
        return line.barcode || line.default_code;
    }

    // ------------------------------------------------------------------
    // Scans
    // ------------------------------------------------------------------

    focusScan() {
        // On a tablet a focused field opens the on-screen keyboard over the
        // order: there Odoo's barcode service reads the scanner without it.
        if (!hasTouch()) {
            this.scanInput.el?.focus();
        }
    }

    onScanKeydown(ev) {
        // A keyboard-wedge scanner types into this field and ends with Enter
        if (ev.key === "Enter") {
            ev.preventDefault();
            this.onSubmitScan();
        }
    }

    onSubmitScan() {
        const code = this.state.scan;
        this.state.scan = "";
        this.onScan(code);
    }

    async onScan(rawCode) {
        const code = barcodeService.cleanBarcode(rawCode || "").trim();
        if (!code || this.state.posting) {
            return;
        }
        // A plain product barcode may also read as GS1 (one starting with 10 or 21)
        const component = this.order?.lines.find((ln) => ln.barcode === code);
        if (component) {
            this.onComponentScanned(component);
            return;
        }
        const gs1 = readGs1(this.parser, code);
        if (gs1) {
            this.fillFromGs1(gs1);
            return;
        }
        await this.loadOrder(code);
    }

    /** A component's plain barcode: its lot comes next, scanned or typed. */
    onComponentScanned(line) {
        if (!this.canRecordLot(line)) {
            this.state.banner = {
                tone: "info",
                title: _t(
                    "%s is a component of this order: no lot to record",
                    line.product
                ),
                messages: [],
            };
            return;
        }
        this.addLot(line);
        this.state.banner = {
            tone: "info",
            title: _t("Scan or type the lot of %s", line.product),
            messages: [],
        };
        playTone("scan");
    }

    async loadOrder(code) {
        this.state.loading = true;
        try {
            const read = await this.orm.call(
                "mrp.production",
                "backflush_station_read",
                [code]
            );
            this.attemptKey = null;
            this.previewSequence++;
            this.state.code = code;
            this.state.order = read;
            const production = read.production;
            this.state.qty = String(production.qty_producing || production.qty);
            this.state.finishedLot = production.finished_lot || "";
            this.state.lots = [];
            this.showPreviewBanner();
            playTone("scan");
        } catch (error) {
            this.refuse(error, _t("Cannot open %s", code));
        } finally {
            this.state.loading = false;
            this.focusScan();
        }
    }

    /** The engine's preview for the quantity typed in, when it changed. */
    async loadPreview() {
        const qty = parseQty(this.state.qty);
        if (!this.order || this.state.posting || !(qty > 0)) {
            return;
        }
        // An answer arriving after another scan, a newer quantity or Done is stale
        const sequence = ++this.previewSequence;
        const isCurrent = () => sequence === this.previewSequence && this.order;
        try {
            const read = await this.orm.call(
                "mrp.production",
                "backflush_station_read",
                [this.state.code],
                {qty}
            );
            if (isCurrent()) {
                this.state.order = read;
                this.showPreviewBanner();
            }
        } catch (error) {
            if (isCurrent()) {
                this.refuse(error, _t("The preview could not be read."));
            }
        }
    }

    showPreviewBanner() {
        const {production, lines, blocked, messages} = this.order;
        const withLots =
            this.finishedTracked || lines.some((line) => this.isTracked(line));
        const short = lines.some((line) => this.outcomeTone(line) === "warning");
        this.state.banner = blocked
            ? {
                  tone: "danger",
                  title: _t("%s is blocked: Done will be refused", production.name),
                  messages,
              }
            : {
                  tone: short || messages.length ? "warning" : "info",
                  title: withLots
                      ? _t(
                            "%s: check the quantity and lots, then press Done",
                            production.name
                        )
                      : _t("%s: check the quantity, then press Done", production.name),
                  messages: short
                      ? [
                            _t(
                                "Short components are in amber: each line says what happens to them."
                            ),
                            ...messages,
                        ]
                      : messages,
              };
    }

    fillFromGs1(gs1) {
        if (!this.order) {
            this.error(
                _t("Scan a manufacturing order first, then its components' labels.")
            );
            return;
        }
        if (isSameGtin(gs1.gtin, this.order.production.barcode)) {
            this.fillFinishedFromGs1(gs1);
            return;
        }
        const lines = this.order.lines.filter((ln) => isSameGtin(gs1.gtin, ln.barcode));
        const line = lines.find((ln) => this.canRecordLot(ln)) || lines[0];
        if (!line) {
            this.error(
                gs1.gtin
                    ? _t(
                          "Product %s is not a component of %s.",
                          gs1.gtin,
                          this.order.production.name
                      )
                    : _t("This label has no product (GS1 01): add the lot on its line.")
            );
            return;
        }
        if (!gs1.lot || !this.canRecordLot(line)) {
            this.error(
                gs1.lot
                    ? _t(
                          "%s takes no lot here: only tracked components do.",
                          line.product
                      )
                    : _t("This label of %s has no lot or serial number.", line.product)
            );
            return;
        }
        const key = this.productKey(line);
        let entry = this.state.lots.find(
            (lot) => lot.key === key && lot.lot === gs1.lot
        );
        if (!entry) {
            entry = this.addLot(line, false);
            entry.lot = gs1.lot;
        }
        if (gs1.qty) {
            entry.qty = String(gs1.qty);
        }
        entry.expiry = gs1.expiry || null;
        const expired = gs1.expiry && gs1.expiry < new Date();
        this.state.banner = {
            tone: expired ? "warning" : "success",
            title: expired
                ? _t(
                      "Lot %s of %s expired on %s",
                      gs1.lot,
                      line.product,
                      this.formatExpiry(gs1.expiry)
                  )
                : _t("Lot %s of %s added", gs1.lot, line.product),
            messages: [],
        };
        playTone(expired ? "warning" : "scan");
    }

    /** The finished product's own label: the quantity and lot produced. */
    fillFinishedFromGs1(gs1) {
        if (gs1.lot && this.finishedTracked) {
            this.state.finishedLot = gs1.lot;
        }
        if (gs1.qty) {
            this.state.qty = String(gs1.qty);
            this.refreshPreview();
        }
        this.state.banner = {
            tone: "success",
            title: _t(
                "%s: %s %s produced",
                this.order.production.product,
                this.state.qty,
                this.order.production.uom
            ),
            messages: this.state.finishedLot
                ? [_t("Lot: %s", this.state.finishedLot)]
                : [],
        };
        playTone("scan");
    }

    // ------------------------------------------------------------------
    // Quantity and lots
    // ------------------------------------------------------------------

    onQtyInput() {
        this.refreshPreview();
    }

    stepQty(delta) {
        const qty = parseQty(this.state.qty);
        this.state.qty = String(Math.max(0, (Number.isNaN(qty) ? 0 : qty) + delta));
        this.refreshPreview();
    }

    addLot(line, focus = true) {
        const key = this.productKey(line);
        const needed = this.order.lines
            .filter((ln) => this.productKey(ln) === key)
            .reduce((total, ln) => total + (ln.qty || 0), 0);
        const entered = this.state.lots
            .filter((lot) => lot.key === key)
            .reduce((total, lot) => total + (parseQty(lot.qty) || 0), 0);
        // rounded: 12.24 - 12 must read 0.24
        const rest =
            line.tracking === "serial"
                ? 1
                : Math.max(Number((needed - entered).toFixed(6)), 0);
        this.state.lots.push({
            id: ++this.lotSequence,
            key,
            product: line.product,
            lot: "",
            qty: String(rest),
            expiry: null,
        });
        const entry = this.state.lots.at(-1);
        if (focus) {
            // Rendered on the next frame: focus its lot for the scanner or keyboard
            requestAnimationFrame(() =>
                document
                    .querySelector(
                        `.o_bf_station_lot_entry[data-id="${entry.id}"] input`
                    )
                    ?.focus()
            );
        }
        return entry;
    }

    removeLot(entry) {
        this.state.lots = this.state.lots.filter((lot) => lot.id !== entry.id);
        this.focusScan();
    }

    /** A GS1 label scanned into a lot field, to read as if scanned on the station. */
    labelTypedIn(ev, value) {
        if (ev.key !== "Enter") {
            return null;
        }
        const gs1 = readGs1(this.parser, barcodeService.cleanBarcode(value));
        return gs1 && gs1.gtin ? gs1 : null;
    }

    onLotKeydown(ev, entry) {
        const gs1 = this.labelTypedIn(ev, entry.lot);
        if (gs1) {
            this.state.lots = this.state.lots.filter((lot) => lot.id !== entry.id);
            this.fillFromGs1(gs1);
        }
        this.onFieldKeydown(ev);
    }

    onFinishedLotKeydown(ev) {
        const gs1 = this.labelTypedIn(ev, this.state.finishedLot);
        if (gs1) {
            this.state.finishedLot = "";
            this.fillFromGs1(gs1);
        }
        this.onFieldKeydown(ev);
    }

    onFieldKeydown(ev) {
        if (ev.key === "Enter") {
            ev.preventDefault();
            this.focusScan();
        }
    }

    // ------------------------------------------------------------------
    // Done
    // ------------------------------------------------------------------

    onCancel() {
        this.clearOrder();
        this.state.banner = this.waitingBanner();
        this.focusScan();
    }

    clearOrder() {
        this.state.order = null;
        this.state.code = "";
        this.state.qty = "";
        this.state.finishedLot = "";
        this.state.lots = [];
        this.attemptKey = null;
    }

    async onDone() {
        const qty = parseQty(this.state.qty);
        if (!(qty > 0)) {
            this.error(_t("Enter the quantity produced."));
            return;
        }
        this.attemptKey = this.attemptKey || newAttemptKey();
        const values = {
            production: this.order.production.name,
            qty,
            component_lots: this.state.lots
                .filter((lot) => lot.lot.trim())
                .map((lot) => ({
                    product: lot.key,
                    lot: lot.lot.trim(),
                    qty: parseQty(lot.qty),
                })),
            idempotency_key: this.attemptKey,
        };
        if (this.state.finishedLot.trim()) {
            values.finished_lot = this.state.finishedLot.trim();
        }
        this.state.posting = true;
        this.previewSequence++;
        this.state.banner = {tone: "info", title: _t("Posting…"), messages: []};
        try {
            const result = await this.orm.call("mrp.production", "backflush_report", [
                values,
            ]);
            this.attemptKey = null;
            this.clearOrder();
            this.showResult(result);
        } catch (error) {
            if (!(error instanceof ConnectionLostError)) {
                this.attemptKey = null;
            }
            this.refuse(error, _t("%s refused: nothing was posted", values.production));
        } finally {
            this.state.posting = false;
            this.focusScan();
        }
    }

    showResult(result) {
        const deferred = result.exceptions && result.exceptions.length;
        this.state.banner = deferred
            ? {
                  tone: "warning",
                  title: _t(
                      "%s done, shortages deferred: they post when stock arrives",
                      result.production
                  ),
                  messages: result.messages || [],
              }
            : {
                  tone: "success",
                  title: _t("%s posted", result.production),
                  messages: result.messages || [],
              };
        playTone(deferred ? "warning" : "success");
    }

    // ------------------------------------------------------------------
    // Errors
    // ------------------------------------------------------------------

    error(title, messages = []) {
        this.state.banner = {tone: "danger", title, messages};
        playTone("error");
    }

    /** A refusal of the server in plain words; anything else is a real bug. */
    refuse(error, title) {
        if (error instanceof ConnectionLostError) {
            this.error(_t("No connection to the server"), [
                _t(
                    "Nothing was confirmed. Press the button again once connected: it never posts twice."
                ),
            ]);
        } else if (error instanceof RPCError) {
            // one line of the server's message per line on the screen
            const message = error.data?.message || error.message;
            this.error(
                title,
                message
                    .split("\n")
                    .map((line) => line.replace(/^\s*-\s*/, "").trim())
                    .filter(Boolean)
            );
        } else {
            throw error;
        }
    }
}

registry.category("actions").add("mrp_backflush.station", BackflushStation);
