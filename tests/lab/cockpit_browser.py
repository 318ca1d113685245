#!/usr/bin/python3
"""A user at a browser, for tests/lab/cockpit.sh: Debian's headless Chromium,
driven by chromedriver through Selenium, logs in to Cockpit and looks at
hbd's page, and does what it is told.

Reads one command per line on stdin (its words separated by tabs, so that a
CSS selector may hold spaces), answers one line on stdout: "ok[ WHAT]"
or "fail WHY".  Everything it waits for, it waits for in the page itself
(what a user sees: texts, labels, enabled buttons); it never reloads the
page unless told to log in again.

  login URL USER PASSWORD          log in at URL (Cockpit), open the HA cluster page
  text SELECTOR                    the text of the first match in the page
  wait_text SELECTOR TEXT SECONDS  until that text is TEXT
  wait_gone SELECTOR SECONDS       until nothing matches
  wait_present SELECTOR SECONDS    until something matches
  click SELECTOR                   a click on an enabled button
  select SELECTOR VALUE            choose VALUE in a <select>
  confirm SECONDS                  click the dialog's confirm button; "ok" once
                                   it closed, "fail ERROR" with the error it shows
  cancel                           close the dialog
  enabled_actions                  how many action buttons are enabled
  mark / marked                    leave a mark in the page / is it still there
                                   (gone after a reload)
  theme light|dark                 the browser's colour preference (Cockpit's "auto")
  size WIDTH HEIGHT                the size of the browser's viewport
  overflow                         "ok" if the page needs no horizontal scrolling
  screenshot PATH                  a PNG of the whole browser window
  debug                            the page's text and the browser console's last lines
  quit
"""

import signal
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

PROFILE = sys.argv[1]   # Chromium's profile directory (removed by the caller)
LOG = sys.argv[2]       # chromedriver's log

driver = None


def quit_browser(*_):
    global driver
    if driver is not None:
        try:
            driver.quit()
        except Exception:
            pass
        driver = None
    if _:
        sys.exit(1)


signal.signal(signal.SIGTERM, quit_browser)
signal.signal(signal.SIGINT, quit_browser)


def start():
    global driver
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--ignore-certificate-errors", "--no-first-run", "--no-default-browser-check",
              "--password-store=basic", "--disable-background-networking", "--disable-sync",
              "--disable-extensions", "--disable-component-update", "--hide-scrollbars",
              "--window-size=1280,800", "--user-data-dir=" + PROFILE, "--lang=en-US"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver", log_path=LOG), options=opts)
    viewport(1280, 800)


def viewport(width, height):
    """Size the window so that the page's viewport is WIDTH x HEIGHT."""
    driver.set_window_size(width, height)
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    if inner != [width, height]:
        driver.set_window_size(2 * width - inner[0], 2 * height - inner[1])


def until(seconds, probe):
    """probe() until it returns a true value (returned) or time runs out (None)."""
    end = time.monotonic() + float(seconds)
    while True:
        try:
            v = probe()
            if v:
                return v
        except WebDriverException:
            pass
        if time.monotonic() > end:
            return None
        time.sleep(0.1)


def in_page():
    """Switch into the frame of hbd's page inside Cockpit's shell."""
    driver.switch_to.default_content()
    frames = driver.find_elements(By.CSS_SELECTOR, "iframe[name$='/hbd']")
    if not frames:
        return False
    driver.switch_to.frame(frames[0])
    return True


def js(script, *args):
    return driver.execute_script(script, *args)


def page_text(sel):
    in_page()
    return js("const e = document.querySelector(arguments[0]); return e ? e.textContent.trim() : null;", sel)


def login(url, user, password):
    driver.switch_to.default_content()
    driver.delete_all_cookies()
    driver.get(url)
    if not until(30, lambda: driver.find_element(By.ID, "login-user-input").is_displayed()):
        return "fail no login form at " + url
    driver.find_element(By.ID, "login-user-input").send_keys(user)
    driver.find_element(By.ID, "login-password-input").send_keys(password)
    driver.find_element(By.ID, "login-button").click()
    # The shell, then its navigation entry "HA cluster" (the manifest's label).
    link = until(30, lambda: [a for a in driver.find_elements(By.CSS_SELECTOR, "nav a, #host-apps a")
                              if a.text.strip() == "HA cluster"])
    if not link:
        err = driver.find_elements(By.ID, "login-error-message")
        return "fail no 'HA cluster' in Cockpit's menu" + (": " + err[0].text if err and err[0].text else "")
    link[0].click()
    if not until(30, in_page):
        return "fail the page's frame did not appear"
    if not until(30, lambda: in_page() and js("return document.getElementById('app').getAttribute('aria-busy') === 'false' && document.querySelectorAll('[data-test=node]').length > 0")):
        return "fail the page shows no node"
    return "ok"


def click(sel):
    in_page()
    b = until(10, lambda: [e for e in driver.find_elements(By.CSS_SELECTOR, sel) if e.is_displayed() and e.is_enabled()])
    if not b:
        return "fail nothing enabled to click: " + sel
    b[0].click()
    return "ok"


def confirm(seconds):
    in_page()
    if not until(5, lambda: driver.find_element(By.ID, "modal").is_displayed()):
        return "fail no dialog open"
    driver.find_element(By.ID, "modal-confirm").click()

    def done():
        if not driver.find_element(By.ID, "modal").is_displayed():
            return "ok"
        err = driver.find_element(By.ID, "modal-error")
        if err.is_displayed() and err.text.strip() and driver.find_element(By.ID, "modal-confirm").is_enabled():
            return "fail " + err.text.strip()
        return None
    return until(seconds, done) or "fail the dialog is still open"


def run(cmd, args):
    if cmd == "login":
        return login(*args)
    if cmd == "text":
        t = page_text(args[0])
        return "fail no " + args[0] if t is None else "ok " + t
    if cmd == "wait_text":
        sel, want, secs = args
        got = until(secs, lambda: page_text(sel) == want)
        return "ok" if got else "fail %s shows %r, not %r" % (sel, page_text(sel), want)
    if cmd == "wait_gone":
        return "ok" if until(args[1], lambda: in_page() and not driver.find_elements(By.CSS_SELECTOR, args[0])) else "fail still there: " + args[0]
    if cmd == "wait_present":
        return "ok" if until(args[1], lambda: in_page() and driver.find_elements(By.CSS_SELECTOR, args[0])) else "fail not there: " + args[0]
    if cmd == "click":
        return click(args[0])
    if cmd == "select":
        in_page()
        Select(driver.find_element(By.CSS_SELECTOR, args[0])).select_by_value(args[1])
        return "ok"
    if cmd == "confirm":
        return confirm(args[0] if args else 20)
    if cmd == "cancel":
        in_page()
        driver.find_element(By.ID, "modal-cancel").click()
        return "ok"
    if cmd == "enabled_actions":
        in_page()
        n = js("return [...document.querySelectorAll('button[data-action], #reload, select[data-group]')].filter(b => !b.disabled).length")
        total = js("return document.querySelectorAll('button[data-action], #reload, select[data-group]').length")
        return "ok %d of %d" % (n, total)
    if cmd == "mark":
        in_page()
        js("window.hbdTestMark = 'still the same page'")
        return "ok"
    if cmd == "marked":
        in_page()
        return "ok" if js("return window.hbdTestMark === 'still the same page'") else "fail the page was loaded again"
    if cmd == "theme":
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                               {"features": [{"name": "prefers-color-scheme", "value": args[0]}]})
        want = args[0] == "dark"
        ok = until(5, lambda: in_page() and js("return document.documentElement.classList.contains('pf-theme-dark')") == want)
        return "ok" if ok else "fail the page did not follow the %s theme" % args[0]
    if cmd == "size":
        viewport(int(args[0]), int(args[1]))
        return "ok"
    if cmd == "overflow":
        in_page()
        w = js("return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        return "ok" if w[0] <= w[1] else "fail the page is %d px wide in a %d px frame" % (w[0], w[1])
    if cmd == "debug":
        # What the page says, and what the browser's console said.
        frame = in_page()
        text = js("return document.body ? document.body.innerText : ''") if frame else "(no page frame)"
        logs = [e["message"] for e in driver.get_log("browser")][-20:]
        return "ok " + " | ".join([" ".join(text.split())[:1500]] + logs)
    if cmd == "screenshot":
        driver.switch_to.default_content()
        time.sleep(0.3)  # let a just-changed label paint
        return "ok" if driver.save_screenshot(args[0]) else "fail no screenshot"
    return "fail unknown command " + cmd


def main():
    try:
        start()
    except Exception as e:
        print("fail cannot start Chromium: %s" % str(e).splitlines()[0], flush=True)
        return 1
    print("ok ready", flush=True)
    for line in sys.stdin:
        words = [w for w in line.rstrip("\n").split("\t") if w != ""]
        if not words:
            continue
        if words[0] == "quit":
            break
        try:
            answer = run(words[0], words[1:])
        except Exception as e:
            answer = "fail %s: %s" % (type(e).__name__, (str(e).splitlines() or [""])[0])
        print(answer.replace("\n", " | "), flush=True)
    quit_browser()
    print("ok bye", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
