"""Data sets: the in-memory ``SpikeDataset`` and synthetic task (``datasets``), the Heidelberg
readers (``heidelberg``: files, binning), and generation (cochlea front end, spoken digits,
SHD-format files)."""
