# Opener Market. The two commands a new user needs: `make run` and `make test`.
SHELL    := /bin/bash
GO       ?= go
SERVICES := tools/services.sh
SQLC     := $(GO) tool -modfile=tools/sqlc.mod sqlc
GENERATED := views internal/db internal/search/walks.sql

.PHONY: run cluster stop reset build generate check-generated vet test test-go test-e2e e2e-deps services-test bench soak

## run: private PostgreSQL + Redis, migrate, seed a demo shop when empty, serve :8080
run: build
	@$(SERVICES) up run
	@eval "$$($(SERVICES) env run)" && bin/market seed -if-empty && \
		echo "Opener Market: http://$${ADDR:-localhost:8080}  (Ctrl-C stops the app; make stop stops the servers)" && \
		exec bin/market serve

## cluster: the same shop on several servers (tools/cluster.sh): a 3+3 Redis Cluster,
## a PostgreSQL primary and streaming replica, two app instances, HAProxy on :8080
cluster: build
	@tools/cluster.sh up

## stop: stop the private servers started by run, test and cluster
stop:
	@$(SERVICES) down run
	@$(SERVICES) down test
	@tools/cluster.sh down

## reset: empty the database and Redis of `make run` (the next run seeds a new demo shop)
reset:
	@$(SERVICES) up run
	@$(SERVICES) reset run

## build: bin/market, whose defaults reach the servers `make run` starts
build:
	$(GO) build -o bin/market .

## generate: templ, the search walks and sqlc code (committed)
generate:
	@$(GO) tool templ generate -log-level error
	@$(GO) generate ./internal/search
	@$(SQLC) generate

## check-generated: fail when regenerating would change committed code
check-generated: generate
	@if [ -n "$$(git status --porcelain --untracked-files=all -- $(GENERATED))" ]; then \
		git status --short -- $(GENERATED); \
		echo "generated code is out of date: run 'make generate' and commit"; exit 1; fi
	@echo "generated code is in sync"

vet:
	$(GO) vet ./...

services-test:
	@$(SERVICES) up test

e2e-deps:
	@$(SERVICES) chromium
	@cd e2e && if [ ! -d node_modules/@playwright/test ]; then \
		PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund; fi

## test: isolated test servers, generated-code check, vet, go test -race, Playwright
test: services-test e2e-deps check-generated vet test-go test-e2e

# Four packages at a time: the tests wait on PostgreSQL and Redis as much as
# they compute (2 cores here: 188-196 s against 246 s with the default two).
test-go:
	@eval "$$($(SERVICES) env test)" && $(GO) test -race -count=1 -p 4 ./...

## soak: the randomized coupon histories of internal/coupon for many seeds
## (HISTORY_SEEDS, default 100; HISTORY_SEED=S replays one)
soak: services-test
	@eval "$$($(SERVICES) env test)" && HISTORY_SEEDS=$${HISTORY_SEEDS:-100} \
		$(GO) test -race -count=1 -timeout 3h -run 'TestRandomHistoriesKeepOneTruth' ./internal/coupon/

test-e2e: build
	@$(SERVICES) reset test
	@eval "$$($(SERVICES) env test)" && cd e2e && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npx playwright test
