# billdesk: `make run` serves the demo, `make test` runs the suite. Each works alone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test install browser lint clean bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

# Offline payments: a local Stripe-compatible server on 127.0.0.1, stopped with the app.
STRIPE_DEV_PORT ?= 8420
DEMO_STRIPE = STRIPE_SECRET_KEY=sk_test_billdesk_demo \
	STRIPE_API_BASE=http://127.0.0.1:$(STRIPE_DEV_PORT) \
	STRIPE_WEBHOOK_SECRET=whsec_billdesk_demo

# Offline mail: a local catcher on 127.0.0.1 keeps every mail; admins read them at /admin/mail.
MAIL_CATCHER_PORT ?= 8025
DEMO_MAIL = BILLDESK_SMTP_URL=smtp://127.0.0.1:$(MAIL_CATCHER_PORT) \
	BILLDESK_MAIL_CATCHER_DIR=var/caught-mail \
	BILLDESK_MAIL_FROM="Demo Hosting Support <support@demo-hosting.test>"

# Offline Telegram: a local Bot API stand-in; type as a customer at http://127.0.0.1:8430/.
TELEGRAM_DEV_PORT ?= 8430
DEMO_TELEGRAM = TELEGRAM_BOT_TOKEN=123456:billdesk-demo \
	TELEGRAM_API_BASE=http://127.0.0.1:$(TELEGRAM_DEV_PORT) \
	TELEGRAM_WEBHOOK_SECRET=billdesk-demo-webhook

# make run PORT=8001 serves on another port (the Stripe and Telegram stand-ins call back there).
PORT ?= 8000

run: install
	$(BIN)/billdesk migrate
	BILLDESK_BASE_URL=http://127.0.0.1:$(PORT) $(BIN)/billdesk demo
	@$(BIN)/billdesk stripe-dev-server --port $(STRIPE_DEV_PORT) \
		--webhook-url http://127.0.0.1:$(PORT)/stripe/webhook --webhook-secret whsec_billdesk_demo & \
	stripe_pid=$$!; \
	$(BIN)/billdesk mail-catcher --port $(MAIL_CATCHER_PORT) --dir var/caught-mail & \
	mail_pid=$$!; \
	$(BIN)/billdesk telegram dev-server --port $(TELEGRAM_DEV_PORT) \
		--webhook-url http://127.0.0.1:$(PORT)/telegram/webhook --webhook-secret billdesk-demo-webhook & \
	telegram_pid=$$!; trap 'kill $$stripe_pid $$mail_pid $$telegram_pid 2>/dev/null' EXIT INT TERM; \
	$(DEMO_STRIPE) $(BIN)/billdesk demo-cards && \
	BILLDESK_BASE_URL=http://127.0.0.1:$(PORT) $(DEMO_STRIPE) $(DEMO_MAIL) $(DEMO_TELEGRAM) \
		$(BIN)/billdesk serve --host 127.0.0.1 --port $(PORT)

# The browser tests drive Debian's Chromium through Playwright (no browser download).
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "The browser tests need Chromium at $(CHROMIUM): install Debian's chromium package." >&2; \
	    exit 1; \
	  fi; \
	fi

test: install browser
	$(BIN)/pytest

# Not part of `make test`: seeds 10k/100k/1M tickets on PostgreSQL (BENCH_DATABASE_URL),
# serves billdesk beside a bare Litestar app and writes docs/benchmarks.md (docs/performance.md).
BENCH_ARGS ?=
bench: install
	@command -v wrk >/dev/null || { echo "make bench needs wrk: apt-get install wrk" >&2; exit 1; }
	$(BIN)/python bench/run.py $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

clean:
	rm -rf $(VENV) var .pytest_cache
