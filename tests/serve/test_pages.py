"""The playground and chat pages in Debian's headless chromium (selenium + chromedriver):
streamed output, FIM with <FILL_HERE>, and a Stop button that cancels on the server."""

import os
import shutil
import time

import pytest

from tests import toolchains

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser():
  if not (CHROMIUM and CHROMEDRIVER):
    toolchains.missing("chromium and chromium-driver (Debian packages, .ci/apt-packages.txt)")
  from selenium import webdriver
  from selenium.webdriver.chrome.service import Service as DriverService
  options = webdriver.ChromeOptions()
  options.binary_location = CHROMIUM
  for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
    options.add_argument(flag)
  driver = webdriver.Chrome(service=DriverService(CHROMEDRIVER), options=options)
  driver.set_page_load_timeout(60)
  yield driver
  driver.quit()


def _wait(predicate, timeout=60):
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    value = predicate()
    if value:
      return value
    time.sleep(0.05)
  raise AssertionError("timed out")


def _set(browser, element_id, value):
  browser.execute_script("document.getElementById(arguments[0]).value = arguments[1]",
                         element_id, value)


def _metric(client, name):
  line = next(l for l in client.get("/metrics").text.splitlines() if l.startswith(name + " "))
  return float(line.split()[1])


def test_playground_streams_a_greedy_completion(browser, server_url, generator):
  from starjax.infer.sampling import SamplingConfig
  browser.get(f"{server_url}/playground")
  _set(browser, "code", "def add(a, b):\n")
  _set(browser, "temperature", "0")
  _set(browser, "max_new_tokens", "12")
  browser.find_element("id", "generate").click()
  status = _wait(lambda: browser.find_element("id", "status").text.startswith("done") and
                 browser.find_element("id", "status").text)
  assert status in ("done (length)", "done (stop)")
  generated = browser.find_element("css selector", "#output .generated").text
  reference = generator.complete(["def add(a, b):\n"], SamplingConfig(max_new_tokens=12))[0]
  assert generated == reference.text.strip("\n") or generated == reference.text


def test_playground_fill_here_is_fim(browser, server_url, generator):
  from starjax.infer.sampling import SamplingConfig
  browser.get(f"{server_url}/playground")
  _set(browser, "code", "def add(a, b):\n    return <FILL_HERE>\n")
  _set(browser, "temperature", "0")
  _set(browser, "max_new_tokens", "8")
  browser.find_element("id", "generate").click()
  _wait(lambda: browser.find_element("id", "status").text.startswith("done"))
  middle = browser.execute_script(
      "return document.querySelector('#output .generated').textContent")
  assert middle == generator.infill("def add(a, b):\n    return ", "\n",
                                    SamplingConfig(max_new_tokens=8))[0]
  assert browser.find_element("id", "output").text.startswith("def add(a, b):")


def test_playground_stop_cancels_on_the_server(browser, server_url, client, service):
  cancelled = _metric(client, "starjax_requests_cancelled_total")
  browser.get(f"{server_url}/playground")
  _set(browser, "max_new_tokens", "900")
  browser.execute_script("document.getElementById('stop_at_eos').checked = false")
  browser.find_element("id", "generate").click()
  _wait(lambda: browser.execute_script(
      "return document.querySelector('#output .generated').textContent.length > 0"))
  browser.find_element("id", "stop").click()
  _wait(lambda: browser.find_element("id", "status").text == "stopped")
  _wait(lambda: _metric(client, "starjax_requests_cancelled_total") == cancelled + 1, 30)
  _wait(lambda: not service.scheduler.busy(), 30)


def test_chat_page_answers(browser, server_url):
  browser.get(f"{server_url}/chat")
  box = browser.find_element("id", "message")
  box.send_keys("How do I reverse a list in Python?")
  browser.find_element("id", "send").click()
  _wait(lambda: browser.find_element("id", "status").text == "done", 120)
  messages = browser.find_elements("css selector", "#log .message")
  assert [m.get_attribute("class") for m in messages] == ["message user", "message assistant"]
  assert messages[0].text == "How do I reverse a list in Python?"
