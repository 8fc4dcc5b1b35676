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

# Channel and parameter keys of the stages' ComponentSpecs: component.py declares the channels by
# these keys and executor.py indexes input_dict, output_dict and exec_properties by them (TFX's
# standard_component_specs does the same for its own components).
CONFIG_KEY = "config"  # every stage: its typed config as one JSON string (components/common/configs.py)
SERVING_DIGEST_KEY = "serving_digest"  # the digest of the serving file a stage reads (its cache key)
STATE_DIGEST_KEY = "state_digest"  # ServingState: the serving directory's digest (its cache key)
CSV_OPTIONS_KEY = "csv_options"  # ExampleGen: the CSV reader's options
EXAMPLES_KEY = "examples"
STATISTICS_KEY = "statistics"
SCHEMA_KEY = "schema"
ANOMALIES_KEY = "anomalies"
RESULT_KEY = "result"  # DataGate's verdict
GATE_KEY = "gate"  # Batching's input: the DataGate's verdict
BATCHES_KEY = "batches"
BEST_HYPERPARAMETERS_KEY = "best_hyperparameters"  # Tuner
TUNER_RESULTS_KEY = "tuner_results"  # Tuner
HYPERPARAMETERS_KEY = "hyperparameters"  # Trainer's input: the Tuner's best values
MODEL_KEY = "model"
MODEL_RUN_KEY = "model_run"
SERVING_STATE_KEY = "serving_state"
BLESSING_KEY = "blessing"  # the Evaluator's output
EVALUATION_KEY = "evaluation"
MODEL_BLESSING_KEY = "model_blessing"  # the Pusher's input: the Evaluator's blessing
PUSHED_MODEL_KEY = "pushed_model"
