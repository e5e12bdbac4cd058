#!/usr/bin/env python3
"""Screenshots the console with Debian's headless Chromium (selenium + chromium-driver, nothing downloaded).

  workers/onnx/.venv/bin/python scripts/console-screenshot.py --url http://127.0.0.1:8080/ui --out docs/console.png

Waits --wait seconds first so that the dashboard's chart has history (drive traffic meanwhile, e.g. with
`rerank-bench run`). --key sets the API key the page sends; --page picks dashboard, playground or admin.
"""
import argparse
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8080/ui")
    parser.add_argument("--out", default="docs/console.png")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=800)
    parser.add_argument("--wait", type=float, default=20)
    parser.add_argument("--key", default="")
    parser.add_argument("--page", default="dashboard")
    args = parser.parse_args()

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
                f"--window-size={args.width},{args.height}", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)
    try:
        driver.get(args.url)
        if args.key:
            driver.execute_script("sessionStorage.setItem('rerank-proxy-key', arguments[0])", args.key)
        driver.get(args.url.split("#")[0] + "#" + args.page)
        driver.refresh()
        # Exactly width x height of page, whatever the headless window's own frame takes.
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": args.width, "height": args.height, "deviceScaleFactor": 1, "mobile": args.width < 600,
        })
        time.sleep(args.wait)
        driver.save_screenshot(args.out)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
