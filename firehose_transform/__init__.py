"""firehose_transform: the Firehose data-transformation Lambda that flattens change events for the lake."""
