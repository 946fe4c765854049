"""Judge: the school registry, targets, compliance rules, evaluation and alerts."""
