// eslint for the add-on's JavaScript (the browser tours in static/tests/tours):
// eslint's recommended rules and the errors of OCA's eslint.config.cjs for
// 18.0 that apply to Odoo 18 ES modules. scripts/eslint runs it.
const globals = require("globals");
const js = require("@eslint/js");

module.exports = [
    js.configs.recommended,
    {
        files: ["**/*.js"],
        languageOptions: {
            // Odoo 18 loads every static file as an ES module (@odoo-module)
            ecmaVersion: 2024,
            sourceType: "module",
            globals: {
                ...globals.browser,
                luxon: "readonly",
                odoo: "readonly",
                owl: "readonly",
            },
        },
        rules: {
            "no-debugger": "error",
            "no-duplicate-imports": "error",
            "no-eq-null": "error",
            "no-eval": "error",
            "no-lonely-if": "error",
            "no-return-assign": "error",
            "no-unneeded-ternary": "error",
            "no-unused-expressions": "error",
            "no-unused-vars": "error",
            "no-use-before-define": "error",
            "operator-assignment": ["error", "always"],
            "prefer-const": "error",
            eqeqeq: "error",
        },
    },
];
