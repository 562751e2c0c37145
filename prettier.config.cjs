// Prettier settings of OCA's repositories for 18.0 (oca-addons-repo-template),
// completed by .editorconfig (indent of 4, 2 for YAML/JSON/Markdown).
// scripts/prettier runs it; .odoo/ is left out by .prettierignore.
/** @type {import('prettier').Config} */

const config = {
    // Resolved through NODE_PATH, set by scripts/_common.sh (node_tool):
    // https://github.com/prettier/prettier/issues/15388#issuecomment-1717746872
    plugins: [require.resolve("@prettier/plugin-xml")],
    bracketSpacing: false,
    printWidth: 88,
    proseWrap: "always",
    semi: true,
    trailingComma: "es5",
    xmlWhitespaceSensitivity: "preserve",
};

module.exports = config;
