"""The scoring script of the tests' tiny local service (model ``tiny``; a request with
``{"explode": true}`` fails, to count an error)."""

SCORE = """
    import json
    from azureml.core.model import Model

    def init():
        global weights
        weights = open(Model.get_model_path("tiny")).read()
        print("tiny service loaded", weights, flush=True)

    def run(raw_data):
        data = json.loads(raw_data)
        if data.get("explode"):
            raise RuntimeError("asked to explode")
        return {"weights": weights, "echo": data}
"""
