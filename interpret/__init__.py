"""Interpretation of Multimodal Factorization Models: information, gradients, generation, what-if, figures, report.

Plain Python (no Streamlit): the app and `python -m interpret report` call the same functions with the same
settings values (`information.InformationSettings`, `gradients.GradientSettings`, `generation.GenerationSettings`,
embedded in `report.ReportSettings`). The methods are `information.py`, `gradients.py`, `generation.py` and
`whatif.py`; `analysis.py` runs them on a model and a split (and composes them: both versions of the information,
the planted cut, faithfulness); `figures.py` draws; `report.py` and `cli.py` write the report.
"""
