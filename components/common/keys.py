"""Names stated once: the custom properties a component writes on its output artifact and that other
code reads back from ML Metadata (the run summary, the lineage, the report), as TFX's
`standard_component_specs` states its keys once for component, executor and reader. Producers and
readers import these constants; neither writes the literal. Standard library only: the readers
stay free of TFX."""

# Pusher -> PushedModel (components/pusher/executor.py)
PUSHED = "pushed"  # int: 1 when this execution published a version, else 0
PUSHED_VERSION = "pushed_version"  # int: the version it published
PUSHED_DESTINATION = "pushed_destination"  # str: the version folder it published
PUSH_DECISION = "push_decision"  # str: "push", or why it did not push
SERVING_PATH = "serving_path"  # str: the version folder serving once the Pusher is done ("" for none)
SERVING_FINGERPRINT = "serving_fingerprint"  # str: a local destination as the Pusher left it (the fast path)

# ServingState -> ServingState (components/serving_state/executor.py)
DESTINATION = "destination"  # str: the push destination it read
DIGEST = "digest"  # str: the digest of the serving directory's state
# SERVING_PATH above: the version folder serving when it read the destination ("" for none)
