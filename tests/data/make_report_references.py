"""The reference report summaries of the shipped demos, as the report CLI writes them (issue 17's baseline).

Run from the repository's root, with one thread, as tests/test_report_reference.py builds them:

    for d in sentiment_mfm digits_mfm_paper digits_mfm_improved; do
        MFM_THREADS=1 python -m interpret report assets/checkpoints/$d.pt --threads 1 \
            --out /tmp/$d.html --json tests/data/reports/$d.json
    done

The files in tests/data/reports were written this way at commit e11082d, before the restructuring of issue 17;
regenerate them only for a change that is meant to change the numbers, and say so in its commit.
"""
