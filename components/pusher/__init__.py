"""The Pusher: publishes blessed models to a TF Serving directory, atomically."""
