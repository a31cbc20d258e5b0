"""Deterministic sample data for the pipeline: ``python -m user_pipeline.datagen.generate``.

Modules: ``people`` (who exists, their latent job seeking), ``typos`` (how a second record of
the same person differs), ``records`` (one day's records with ground truth), ``sources`` (the
three raw formats and broken drops), ``reference`` (spam labels, ID pairs), ``vocab`` (names,
places, domains).
"""
