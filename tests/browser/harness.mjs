// The browser suite's harness: the environment `cargo xtask browser` sets
// (DRIP_BROWSER_BASE, DRIP_BROWSER_CHROMIUM, DRIP_BROWSER_MODULES, DRIP_BROWSER_SCREENSHOTS),
// the one Chromium every scenario shares, fresh contexts that record console errors, and
// the steps scenarios share (sign-up, API calls, measurements of the page).

import assert from 'node:assert/strict'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'

const env = (name) => {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set (run the suite with cargo xtask browser)`)
  return value
}
export const base = env('DRIP_BROWSER_BASE')
export const screenshots = env('DRIP_BROWSER_SCREENSHOTS')
const require = createRequire(path.join(env('DRIP_BROWSER_MODULES'), 'noop.js'))
const { chromium } = require('playwright-core')

/** How long one step may wait for the page, at most (a guard, not a timing assertion). */
export const STEP_TIMEOUT_MS = 15000
export const DESKTOP = { width: 1280, height: 800 }
export const MOBILE = { width: 375, height: 812 }

export const browser = await chromium.launch({
  executablePath: env('DRIP_BROWSER_CHROMIUM'),
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
})

/**
 * A fresh context (cookies, storage) and page at `viewport`, recording every console error
 * of any of its pages but the browser's own line for a response of one of
 * `expectedStatuses` (a scenario that asks for a refusal on purpose).
 */
export async function open(viewport = DESKTOP, expectedStatuses = [], options = {}) {
  const context = await browser.newContext({ viewport, baseURL: base, ...options })
  context.setDefaultTimeout(STEP_TIMEOUT_MS)
  const errors = []
  const expected = (text) =>
    expectedStatuses.some((status) => text.includes(`the server responded with a status of ${status}`))
  // Every tab of the context is watched, those a scenario opens later too.
  context.on('page', (tab) => {
    tab.on('console', (message) => {
      if (message.type() === 'error' && !expected(message.text())) errors.push(`console: ${message.text()}`)
    })
    tab.on('pageerror', (error) => errors.push(`page error: ${error.message}`))
  })
  const page = await context.newPage()
  return { context, page, errors }
}

export async function shoot(page, name) {
  fs.mkdirSync(screenshots, { recursive: true })
  await page.screenshot({ path: path.join(screenshots, `${name}.png`), fullPage: true })
}

/** The page is no wider than its viewport (no horizontal overflow). */
export async function fitsWidth(page) {
  const { scrollWidth, innerWidth } = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
  }))
  assert.ok(scrollWidth <= innerWidth, `the page is ${scrollWidth} px wide in a ${innerWidth} px viewport`)
}

export async function signUp(page, username, password) {
  await page.goto('/')
  const form = page.locator('#signup-form')
  await form.getByLabel('Username').fill(username)
  await form.getByLabel('Email').fill(`${username}@example.com`)
  await form.getByLabel('Password').fill(password)
  await form.getByRole('button', { name: 'Create account' }).click()
  await page.locator('#files-view').waitFor({ state: 'visible' })
  assert.equal(await page.locator('#whoami').innerText(), username)
}

/** Registers `username` through the API; answers the session body. */
export async function register(username, password) {
  const response = await fetch(`${base}/api/v1/users`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, email: `${username}@example.com`, password }),
  })
  assert.equal(response.status, 201, await response.clone().text())
  return response.json()
}

/** Logs in on the page through the login form. */
export async function logIn(page, username, password) {
  await page.goto('/')
  const form = page.locator('#login-form')
  await form.getByLabel('Username').fill(username)
  await form.getByLabel('Password').fill(password)
  await form.getByRole('button', { name: 'Log in' }).click()
  await page.locator('#files-view').waitFor({ state: 'visible' })
}

/** The page's JavaScript heap in use, after a garbage collection (Chrome DevTools Protocol). */
export async function heapUsed(cdp) {
  await cdp.send('HeapProfiler.collectGarbage')
  const { metrics } = await cdp.send('Performance.getMetrics')
  return metrics.find((metric) => metric.name === 'JSHeapUsedSize').value
}

/** Uploads `content` as `name` into `folder` through the API, as the session's user. */
export async function apiUpload(session, folder, name, content) {
  const query = new URLSearchParams({ folder, name })
  const response = await fetch(`${base}/api/v1/files?${query}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${session.access_token}`, 'Content-Type': 'application/octet-stream' },
    body: content,
  })
  assert.equal(response.status, 201, await response.clone().text())
  return response.json()
}

/** Whether leaving the page now would ask first (its `beforeunload` handler objects). */
export async function leavingWarns(page) {
  return page.evaluate(() => {
    const event = new Event('beforeunload', { cancelable: true })
    window.dispatchEvent(event)
    return event.defaultPrevented
  })
}

/** The row of `label` in the upload queue. */
export function uploadRow(page, label) {
  return page.locator('#upload-queue li').filter({ has: page.locator('.upload-name', { hasText: label }) })
}

/** The file names of the listing, top to bottom. */
export function listedNames(page) {
  return page.locator('#entries a[download]').allInnerTexts()
}

/** Waits until the files listed are `names`, in that order (a listing loaded anew). */
export async function listingBecomes(page, names) {
  await page.waitForFunction(
    (expected) => JSON.stringify([...document.querySelectorAll('#entries a[download]')].map((a) => a.textContent)) === expected,
    JSON.stringify(names),
  )
}

/** A JSON call to the API as the session's user; answers the body. */
export async function apiCall(session, method, uri, body) {
  const response = await fetch(`${base}${uri}`, {
    method,
    headers: { Authorization: `Bearer ${session.access_token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  assert.ok(response.ok, `${method} ${uri}: ${response.status} ${await response.clone().text()}`)
  return response.status === 204 ? null : response.json()
}

/** The open dialog lies within the viewport, and the page does not overflow. */
export async function dialogFits(page) {
  const box = await page.locator('#dialog').boundingBox()
  const width = page.viewportSize().width
  assert.ok(box && box.x >= 0 && box.x + box.width <= width, `the dialog spans ${box?.x}..${box && box.x + box.width} of ${width} px`)
  await fitsWidth(page)
}

/** Picks `files` in the page's file chooser, as a user does: chosen, they go up. */
export async function uploadInPage(page, files) {
  await page.locator('#upload-file').setInputFiles(files)
}
