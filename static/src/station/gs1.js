/** @odoo-module **/
/* Copyright 2026 mrp_backflush authors
 * License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl). */
import {BarcodeParser} from "@barcodes/js/barcode_parser";

/**
 * A parser with the company's GS1 nomenclature, or Odoo's default GS1
 * nomenclature when the company scans with another one: component labels
 * are GS1-128 whatever the company prints on its own products.
 */
export async function loadGs1Parser(orm, companyId) {
    const [company] = await orm.read("res.company", [companyId], ["nomenclature_id"]);
    const gs1 = await orm.search("barcode.nomenclature", [
        ["is_gs1_nomenclature", "=", true],
    ]);
    const companyNomenclature = company.nomenclature_id && company.nomenclature_id[0];
    const id = gs1.includes(companyNomenclature) ? companyNomenclature : gs1[0];
    if (!id) {
        return null;
    }
    const nomenclature = await BarcodeParser.fetchNomenclature(orm, id);
    return new BarcodeParser({nomenclature});
}

/**
 * What a GS1-128 barcode says about a component: {gtin, lot, expiry, qty},
 * or null when the code is not GS1 (an order's name, a plain lot name).
 */
export function readGs1(parser, code) {
    if (!parser) {
        return null;
    }
    let parts = null;
    try {
        parts = parser.parse_barcode(code);
    } catch {
        return null;
    }
    if (!Array.isArray(parts)) {
        return null;
    }
    const read = {};
    for (const part of parts) {
        if (part.type === "product") {
            read.gtin = part.value;
        } else if (part.type === "lot") {
            read.lot = part.value;
        } else if (part.type === "expiration_date" || part.type === "use_date") {
            read.expiry = read.expiry || part.value;
        } else if (part.type === "quantity") {
            read.qty = part.value;
        }
    }
    return read.gtin || read.lot ? read : null;
}

/** A GTIN-14 names the product of an EAN-13, UPC-A or EAN-8 barcode padded with zeros. */
export function isSameGtin(gtin, barcode) {
    if (!gtin || !barcode) {
        return false;
    }
    return gtin.replace(/^0+/, "") === String(barcode).replace(/^0+/, "");
}
