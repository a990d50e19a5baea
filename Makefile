# agentcage: `make test` runs every check and test; `make demo` runs a cage end to end with podman.
.PHONY: test lint typecheck crd demo images unit integration e2e deps bench-inspectors bench-proxy bench-operator

test: node_modules
	@bash scripts/run-tests.sh

unit: node_modules
	npx mocha 'test/unit/**/*.test.ts'

integration: node_modules
	npx mocha 'test/integration/**/*.test.ts'

e2e: node_modules
	npx mocha 'test/e2e/**/*.test.ts'

lint: node_modules
	npx eslint . && npx prettier --check .

typecheck: node_modules
	npx tsc --noEmit

crd: node_modules
	npx agentcage crd > crds/agentcage.io_cages.yaml
	npx tsx charts/agentcage/sync-crd.ts

node_modules: package-lock.json
	npm ci
	@touch node_modules

deps:
	bash scripts/install-system-deps.sh

images: node_modules
	bash scripts/build-images.sh

demo: node_modules
	bash scripts/demo.sh

bench-inspectors: node_modules
	npx tsx bench/inspectors.ts

bench-proxy: node_modules
	bash bench/proxy/run.sh

bench-operator: node_modules
	node --expose-gc --max-old-space-size=8192 --import tsx bench/operator.ts
