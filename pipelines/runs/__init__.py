"""What a run left behind, read back: the root's layout (`paths`), ML Metadata queries, the run
summary and history, lineage of pushed models and the HTML report."""
