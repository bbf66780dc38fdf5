"""Audio and data-set generation: cochlea front end, spoken digits, SHD-format files."""
