"""The console (`GET /ui`) in a real browser: Debian's headless Chromium driven by selenium through Debian's
chromium-driver (nothing is downloaded at run time), against the real Swift proxy (a child process) in front
of the real ONNX worker. Skipped with a reason when the proxy binary, chromium or chromedriver is missing;
`.ci/run` installs them and scripts/test.sh builds the proxy."""

import json
import re
import shutil
import urllib.error
import urllib.request

import pytest

from .conftest import BREAD_DOCS, BREAD_QUERY, Running
from .test_proxy_e2e import call, running_proxy, sqlite_policy

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
APP_KEY = "sk-console-app-0123456789"
ADMIN_KEY = "sk-console-admin-0123456789"
MODEL = "all-minilm-l6-v2"

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (workers/onnx/requirements.txt)")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def browser(width=1280, height=800):
    """Headless Chromium at the given viewport, with the console log kept for `get_log("browser")`."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(path):
            pytest.skip(f"{path} is not installed (apt-get install chromium chromium-driver; .ci/run does)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
                f"--window-size={width},{height}", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    # Exactly this viewport (a headless window keeps a minimum width and some height for its frame).
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})
    return driver


@pytest.fixture(scope="module")
def module_worker(bi_model):
    running = Running(bi_model, max_batch_tokens=4096, max_wait_ms=2, max_queue=512)
    yield running.url
    running.server.stop()


@pytest.fixture(scope="module")
def console_proxy(module_worker, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("console")
    auth = f"""auth:
  keys:
    - {{ name: console-app, key: "{APP_KEY}" }}
  admin_keys: ["{ADMIN_KEY}"]"""
    with running_proxy(sqlite_policy(tmp_path, module_worker, extra=auth, max_batch=32), tmp_path) as base:
        yield base


@pytest.fixture()
def driver():
    d = browser()
    yield d
    d.quit()


def wait(driver, condition, timeout=15):
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: condition(d))


def text(driver, element_id):
    return driver.find_element(By.ID, element_id).text


def rerank(base, documents, key=APP_KEY):
    req = urllib.request.Request(
        base + "/v1/rerank", data=json.dumps({"model": MODEL, "query": BREAD_QUERY, "documents": documents}).encode(),
        headers={"content-type": "application/json", "authorization": f"Bearer {key}"},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def use_key(driver, key):
    driver.find_element(By.ID, "key-toggle").click()
    field = driver.find_element(By.ID, "key-input")
    wait(driver, lambda d: field.is_displayed())
    field.send_keys(key)
    driver.find_element(By.ID, "key-save").click()
    wait(driver, lambda d: d.execute_script("return sessionStorage.getItem('rerank-proxy-key')") == key)


def severe(log):
    return [entry for entry in log if entry["level"] == "SEVERE"]


def test_the_dashboard_loads_without_console_errors_and_follows_traffic(console_proxy, driver):
    driver.get(console_proxy + "/ui")
    wait(driver, lambda d: text(d, "kpi-requests").endswith(" total"))
    wait(driver, lambda d: text(d, "ready") == "ready")
    assert driver.title == "rerank-proxy console"
    before = int(text(driver, "kpi-requests").split()[0])
    # The backends table lists the worker as healthy; the models table lists the model.
    assert "onnx-local" in text(driver, "backends") and "healthy" in text(driver, "backends")
    assert MODEL in text(driver, "models")

    docs = [f"{d} (dashboard {i})" for i, d in enumerate(BREAD_DOCS)]
    rerank(console_proxy, docs)
    rerank(console_proxy, docs)  # all four pairs hit this time
    wait(driver, lambda d: int(text(d, "kpi-requests").split()[0]) >= before + 2)
    wait(driver, lambda d: text(d, "kpi-saved") not in ("0", "\u2013"))
    assert int(text(driver, "kpi-saved")) >= 4
    # The tiers table counts the memory tier's hits and entries.
    rows = [tr.text for tr in driver.find_elements(By.CSS_SELECTOR, "#tiers tbody tr")]
    assert rows[0].startswith("memory")
    # The SQLite row shows its lookup round trip (p50 / p99 ms): the first request missed in memory and asked it.
    sqlite_row = next(row for row in rows if row.startswith("sqlite"))
    assert re.search(r"\d+\.\d\d / \d+\.\d\d$", sqlite_row), sqlite_row
    # The chart is inline SVG with a hit-ratio line once two samples with traffic exist.
    assert driver.find_element(By.CSS_SELECTOR, "#chart svg") is not None

    errors = severe(driver.get_log("browser"))
    assert errors == [], errors


def test_the_playground_ranks_and_marks_the_second_run_cached(console_proxy, driver):
    driver.get(console_proxy + "/ui#playground")
    use_key(driver, APP_KEY)
    wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, f"#pg-model option[value='{MODEL}']"))
    docs = [f"{d} (playground)" for d in BREAD_DOCS]
    query = driver.find_element(By.ID, "pg-query")
    query.clear()
    query.send_keys(BREAD_QUERY)
    area = driver.find_element(By.ID, "pg-docs")
    area.clear()
    area.send_keys(json.dumps(docs))  # a pasted JSON array

    def run():
        driver.execute_script("document.getElementById('pg-results').replaceChildren()")
        driver.find_element(By.ID, "pg-run").click()
        wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#pg-results li")) == len(docs))
        items = driver.find_elements(By.CSS_SELECTOR, "#pg-results li")
        return [(int(li.get_attribute("data-index")), li.get_attribute("data-source")) for li in items]

    first = run()
    assert first[0][0] == 1, "the bread recipe must rank first"
    assert {source for _, source in first} == {"backend"}
    assert driver.find_element(By.ID, "pg-summary").get_attribute("data-all-cached") == "false"
    assert " ms" in text(driver, "pg-summary")

    second = run()
    assert [i for i, _ in second] == [i for i, _ in first]
    assert {source for _, source in second} <= {"memory", "store"}
    assert driver.find_element(By.ID, "pg-summary").get_attribute("data-all-cached") == "true"
    assert "all cached" in text(driver, "pg-summary")
    assert "X-Rerank-Cache: hits=4; coalesced=0; forwarded=0" in text(driver, "pg-summary")
    assert severe(driver.get_log("browser")) == []


def test_purge_needs_the_admin_key_and_makes_the_backend_score_again(console_proxy, driver):
    docs = [f"{d} (purge)" for d in BREAD_DOCS]
    rerank(console_proxy, docs)
    assert rerank(console_proxy, docs)["results"]  # cached now

    driver.get(console_proxy + "/ui#admin")
    wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, f"#purge-model option[value='{MODEL}']"))
    assert driver.find_element(By.ID, "admin-hint").is_displayed()

    def purge():
        driver.execute_script("document.getElementById('purge-msg').textContent = ''")
        driver.find_element(By.ID, "purge-run").click()
        wait(driver, lambda d: text(d, "purge-msg") not in ("", "purging\u2026"))
        return text(driver, "purge-msg")

    assert purge().startswith("401")
    use_key(driver, APP_KEY)
    assert purge().startswith("403")
    use_key(driver, ADMIN_KEY)
    assert purge() == f"purged {MODEL}: cache generation 1"
    # The policy is shown, with the keys masked.
    wait(driver, lambda d: '"protect_stats"' in text(d, "policy"))
    assert APP_KEY not in text(driver, "policy") and ADMIN_KEY not in text(driver, "policy")

    # The purged pairs are scored by the worker again.
    req = urllib.request.Request(
        console_proxy + "/v1/rerank?explain=true", data=json.dumps({"model": MODEL, "query": BREAD_QUERY, "documents": docs}).encode(),
        headers={"content-type": "application/json", "authorization": f"Bearer {APP_KEY}"},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.headers["X-Rerank-Cache"] == "hits=0; coalesced=0; forwarded=4"
        assert {res["meta"]["cache"] for res in json.loads(r.read())["results"]} == {"backend"}


def test_the_console_fits_a_phone_viewport(console_proxy):
    d = browser(390, 844)
    try:
        d.get(console_proxy + "/ui")
        wait(d, lambda d: text(d, "kpi-requests").endswith(" total"))
        # Nothing wider than the viewport except inside the scrollable table boxes.
        assert d.execute_script("return window.innerWidth") == 390
        overflow = d.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0
        d.find_element(By.ID, "tab-playground").click()
        assert d.find_element(By.ID, "pg-run").is_displayed()
        assert severe(d.get_log("browser")) == []
    finally:
        d.quit()


def test_the_admin_endpoints_refuse_without_a_key(console_proxy):
    with pytest.raises(urllib.error.HTTPError) as raised:
        call(console_proxy + "/admin/policy")
    assert raised.value.code == 401
