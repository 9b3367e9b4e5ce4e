"""The report stage: tables, figures, audio and an HTML page built from the study's outputs."""
