"""Evaluation of MFMs by independent judges, apart from the model and from interpretation.

- :mod:`mfm.eval.classifiers`: small digit CNNs trained on real images, their training loop and their file format
  (read through :mod:`mfm.safe_load`, as checkpoints are); :mod:`mfm.eval.cli` is `python -m mfm train-classifier`;
- :mod:`mfm.eval.swap_metrics`: label-swap fidelity and style preservation scored by those classifiers;
- :mod:`mfm.eval.prototypes`: the mean F_y of each class or label group (pure numpy; what the grids decode).

Nothing is imported here, so that `mfm.eval.prototypes` loads without the classifiers.
"""
