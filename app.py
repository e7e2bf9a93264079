"""The MFM interpretability app: `streamlit run app.py`.

Load a trained Multimodal Factorization Model (a bundled demo or an upload), then look at the paper's two
interpretations (information-based and gradient-based), generate style x label grids, drop a modality, and
download the report. The sidebar chooses the checkpoint; every page reads that choice and calls `interpret/`.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages.common import sidebar, start_up

# The page icon is a file served by the app itself: a Material icon name would make every page fetch it from
# Google Fonts, and the app must work offline.
ICON = Path(__file__).resolve().parent / "assets" / "icon.png"
st.set_page_config(page_title="MFM interpretability", page_icon=str(ICON), layout="wide")
start_up()  # once per process: the thread policy

# Navigation first, so the page menu replaces Streamlit's listing of the pages/ folder at once; then the sidebar,
# which loads the chosen checkpoint for every page; then the page itself.
navigation = st.navigation(
    [
        st.Page("pages/model.py", title="Model", icon=":material/memory:", default=True),
        st.Page("pages/information.py", title="Information", icon=":material/bar_chart:"),
        st.Page("pages/gradients.py", title="Gradients over time", icon=":material/grid_on:"),
        st.Page("pages/style_label.py", title="Style & label", icon=":material/palette:"),
        st.Page("pages/missing_modality.py", title="Missing modality", icon=":material/visibility_off:"),
        st.Page("pages/report.py", title="Report", icon=":material/description:"),
    ]
)
sidebar()
navigation.run()
