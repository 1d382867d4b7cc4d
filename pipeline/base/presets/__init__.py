"""Brain presets shipped with byob: one TOML file each (`byob config presets`)."""
