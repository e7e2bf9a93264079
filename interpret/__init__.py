"""Interpretation of Multimodal Factorization Models: information, gradients, generation, what-if, figures, report.

Plain Python (no Streamlit): the app and `python -m interpret report` call the same functions.
"""
