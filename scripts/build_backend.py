# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Build backend of the add-on: OCA's whool, refusing a folder of another name.

whool names the wheel after the folder it builds from (odoo-addon-<folder>,
holding odoo/addons/<folder>), so a clone named anything else than
mrp_backflush would give a wheel of an add-on Odoo does not know. Builds from
an sdist (a PKG-INFO gives the name) are left to whool.
"""

from pathlib import Path

from whool import buildapi

ADDON = "mrp_backflush"


def _check_folder():
    folder = Path.cwd()
    if folder.name != ADDON and not (folder / "PKG-INFO").is_file():
        raise SystemExit(
            f"ERROR: the wheel takes the add-on's name from its folder, and this "
            f"folder is named {folder.name!r}: build from a folder named {ADDON} "
            f"(git clone <url> {ADDON}), or run scripts/wheel, which builds from "
            f"a copy named {ADDON}."
        )


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _check_folder()
    return buildapi.build_wheel(wheel_directory, config_settings, metadata_directory)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    _check_folder()
    return buildapi.build_editable(wheel_directory, config_settings, metadata_directory)


def build_sdist(sdist_directory, config_settings=None):
    _check_folder()
    return buildapi.build_sdist(sdist_directory, config_settings)


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    _check_folder()
    return buildapi.prepare_metadata_for_build_wheel(
        metadata_directory, config_settings
    )


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel
