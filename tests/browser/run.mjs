// Drip's web UI in headless Chromium (playwright-core), run by `cargo xtask browser`
// against a spawned drip: each scenario gets fresh browser contexts, fails on any console
// error or uncaught exception, and the suite writes screenshots of the main screens to
// DRIP_BROWSER_SCREENSHOTS. Configured by the environment the xtask sets:
// DRIP_BROWSER_BASE (the server), DRIP_BROWSER_CHROMIUM (the browser),
// DRIP_BROWSER_MODULES (the node_modules holding playwright-core).

import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import { createRequire } from 'node:module'
import path from 'node:path'

const env = (name) => {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set (run the suite with cargo xtask browser)`)
  return value
}
const base = env('DRIP_BROWSER_BASE')
const screenshots = env('DRIP_BROWSER_SCREENSHOTS')
const require = createRequire(path.join(env('DRIP_BROWSER_MODULES'), 'noop.js'))
const { chromium } = require('playwright-core')

/** How long one step may wait for the page, at most (a guard, not a timing assertion). */
const STEP_TIMEOUT_MS = 15000
const DESKTOP = { width: 1280, height: 800 }
const MOBILE = { width: 375, height: 812 }

const browser = await chromium.launch({
  executablePath: env('DRIP_BROWSER_CHROMIUM'),
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
})

/**
 * A fresh context (cookies, storage) and page at `viewport`, recording every console error
 * of any of its pages but the browser's own line for a response of one of
 * `expectedStatuses` (a scenario that asks for a refusal on purpose).
 */
async function open(viewport = DESKTOP, expectedStatuses = [], options = {}) {
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

async function shoot(page, name) {
  fs.mkdirSync(screenshots, { recursive: true })
  await page.screenshot({ path: path.join(screenshots, `${name}.png`), fullPage: true })
}

/** The page is no wider than its viewport (no horizontal overflow). */
async function fitsWidth(page) {
  const { scrollWidth, innerWidth } = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
  }))
  assert.ok(scrollWidth <= innerWidth, `the page is ${scrollWidth} px wide in a ${innerWidth} px viewport`)
}

async function signUp(page, username, password) {
  await page.goto('/')
  const form = page.locator('#signup-form')
  await form.getByLabel('Username').fill(username)
  await form.getByLabel('Email').fill(`${username}@example.com`)
  await form.getByLabel('Password').fill(password)
  await form.getByRole('button', { name: 'Create account' }).click()
  await page.locator('#files-view').waitFor({ state: 'visible' })
  assert.equal(await page.locator('#whoami').innerText(), username)
}

const scenarios = {
  async 'sign up, log out, log in again; the auth screen on desktop and mobile'() {
    const { context, page, errors } = await open()
    await page.goto('/')
    await page.locator('#auth-view').waitFor({ state: 'visible' })
    await shoot(page, 'login-desktop')
    await signUp(page, 'alice', 'a long password')
    await shoot(page, 'files-desktop')
    await page.getByRole('button', { name: 'Log out' }).click()
    await page.locator('#auth-view').waitFor({ state: 'visible' })
    const login = page.locator('#login-form')
    await login.getByLabel('Username').fill('alice')
    await login.getByLabel('Password').fill('a long password')
    await login.getByRole('button', { name: 'Log in' }).click()
    await page.locator('#files-view').waitFor({ state: 'visible' })
    assert.equal(await page.locator('#whoami').innerText(), 'alice')
    await context.close()
    assert.deepEqual(errors, [])

    const mobile = await open(MOBILE)
    await mobile.page.goto('/')
    await mobile.page.locator('#auth-view').waitFor({ state: 'visible' })
    await fitsWidth(mobile.page)
    await shoot(mobile.page, 'login-mobile')
    await mobile.context.close()
    assert.deepEqual(mobile.errors, [])
  },
}

scenarios['a wrong password is cleared, row actions name their file, a bad name says why, a stale error goes on navigation'] =
  async () => {
    const { context, page, errors } = await open(DESKTOP, [400, 401])
    await signUp(page, 'bob', 'a long password')
    await page.locator('#upload-file').setInputFiles({
      name: 'notes.txt',
      mimeType: 'text/plain',
      buffer: Buffer.from('hello from the browser'),
    })
    await page.getByRole('button', { name: 'Upload', exact: true }).click()
    for (const action of ['Rename', 'Move', 'Share', 'Delete']) {
      await page.getByRole('button', { name: `${action} notes.txt` }).waitFor({ state: 'visible' })
    }
    assert.equal(await page.locator('#breadcrumb li').first().innerText(), 'My files')

    // A name that cannot be says why; surrounding spaces go.
    await page.getByRole('button', { name: 'Rename notes.txt' }).click()
    const dialog = page.locator('#dialog')
    await dialog.getByLabel('New name').fill('  a/b  ')
    await dialog.getByRole('button', { name: 'Rename' }).click()
    await dialog.locator('#dialog-error').filter({ hasText: 'A file name cannot contain "/".' }).waitFor()
    await dialog.getByLabel('New name').fill('  renamed.txt  ')
    await dialog.getByRole('button', { name: 'Rename' }).click()
    await page.locator('#flash').filter({ hasText: '"notes.txt" was renamed to "renamed.txt".' }).waitFor()
    await page.getByRole('button', { name: 'Rename renamed.txt' }).click()
    await dialog.getByLabel('New name').fill('notes.txt')
    await dialog.getByRole('button', { name: 'Rename' }).click()
    await page.getByRole('button', { name: 'Rename notes.txt' }).waitFor({ state: 'visible' })

    // A bad path shows an error; going back to a folder that exists takes it away.
    await page.evaluate(() => {
      window.history.pushState({}, '', '/?path=no-such-path')
      window.dispatchEvent(new PopStateEvent('popstate'))
    })
    const banner = page.locator('#flash')
    await page.locator('#flash.flash-error').waitFor({ state: 'visible' })
    await page.goBack()
    await banner.waitFor({ state: 'hidden' })
    await page.getByRole('button', { name: 'Rename notes.txt' }).waitFor({ state: 'visible' })

    // A wrong password is refused and leaves the field empty, with the focus in it.
    await page.getByRole('button', { name: 'Log out' }).click()
    const login = page.locator('#login-form')
    await login.getByLabel('Username').fill('bob')
    await login.getByLabel('Password').fill('not the password')
    await login.getByRole('button', { name: 'Log in' }).click()
    await page.locator('#flash.flash-error').waitFor({ state: 'visible' })
    assert.equal(await banner.innerText(), 'Invalid username/password combination.')
    assert.equal(await login.getByLabel('Password').inputValue(), '')
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('name')), 'password')
    await context.close()
    assert.deepEqual(errors, [])
  }

scenarios['a new folder from a button, named with reasons, kept by its file; usage with the quota'] =
  async () => {
    const { context, page, errors } = await open()
    await signUp(page, 'carol', 'a long password')
    assert.equal(
      await page.evaluate(() => document.activeElement?.id),
      'folder-nav',
      'the focus is on the folder after sign-up',
    )
    await page.locator('#usage').filter({ hasText: '0 files, 0 B of 100 MB (100 MB free)' }).waitFor()

    await page.getByRole('button', { name: 'New folder' }).click()
    const dialog = page.locator('#dialog')
    await dialog.getByLabel('Folder name').fill('a/b')
    await dialog.getByRole('button', { name: 'Create' }).click()
    await dialog.locator('#dialog-error').filter({ hasText: 'cannot contain "/"' }).waitFor()
    await dialog.getByLabel('Folder name').fill('  reports  ')
    await dialog.getByRole('button', { name: 'Create' }).click()
    await page.waitForURL((url) => url.search === '?path=$/reports')
    await page.locator('#breadcrumb').filter({ hasText: 'reports' }).waitFor()
    await page.locator('#empty').waitFor({ state: 'visible' })

    await page.locator('#upload-file').setInputFiles({
      name: 'q3.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from('quarter,total\n3,42\n'),
    })
    await page.getByRole('button', { name: 'Upload', exact: true }).click()
    await page.getByRole('button', { name: 'Rename q3.csv' }).waitFor({ state: 'visible' })
    await page.locator('#breadcrumb a').first().click()
    await page.locator('#entries a', { hasText: 'reports/' }).waitFor({ state: 'visible' })
    await page.locator('#usage').filter({ hasText: '1 file' }).waitFor()
    await context.close()
    assert.deepEqual(errors, [])
  }

scenarios['the files screen fits a 375 px phone, long names included'] = async () => {
  const { context, page, errors } = await open(MOBILE)
  await signUp(page, 'dave', 'a long password')
  await page.locator('#upload-file').setInputFiles({
    name: 'the quarterly report of the north-western region, final version (2).pdf',
    mimeType: 'application/pdf',
    buffer: Buffer.from('%PDF-1.4 not really'),
  })
  await page.getByRole('button', { name: 'Upload', exact: true }).click()
  await page.getByRole('button', { name: /^Rename the quarterly report/ }).waitFor({ state: 'visible' })
  await fitsWidth(page)
  await shoot(page, 'files-mobile')
  await context.close()
  assert.deepEqual(errors, [])
}

scenarios['delete to the trash, restore (under another name when taken), delete forever'] = async () => {
  // The first restore is refused on purpose (the name is taken): 409.
  const { context, page, errors } = await open(DESKTOP, [409])
  await signUp(page, 'erin', 'a long password')
  const upload = async (text) => {
    await page.locator('#upload-file').setInputFiles({
      name: 'plan.txt',
      mimeType: 'text/plain',
      buffer: Buffer.from(text),
    })
    await page.getByRole('button', { name: 'Upload', exact: true }).click()
    await page.getByRole('button', { name: 'Rename plan.txt' }).waitFor({ state: 'visible' })
  }
  const dialog = page.locator('#dialog')
  const remove = async (name) => {
    await page.getByRole('button', { name: `Delete ${name}` }).click()
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click()
    await page.locator('#flash').filter({ hasText: `"${name}" was moved to the trash` }).waitFor()
    await page.getByRole('button', { name: `Delete ${name}` }).waitFor({ state: 'detached' })
  }
  await upload('the first plan')
  await remove('plan.txt')

  // In the trash; a new file takes the name; the restore asks for another.
  await upload('the second plan')
  await page.getByRole('button', { name: 'Trash' }).click()
  const trash = page.locator('#trash-view')
  await trash.getByRole('button', { name: 'Restore plan.txt' }).click()
  await dialog.getByLabel('Restore as').fill('plan (old).txt')
  await dialog.getByRole('button', { name: 'Restore' }).click()
  await page.locator('#flash').filter({ hasText: 'as "plan (old).txt"' }).waitFor()
  await page.locator('#trash-empty').waitFor({ state: 'visible' })
  await page.getByRole('button', { name: 'Back to files' }).click()
  await page.getByRole('button', { name: 'Rename plan (old).txt' }).waitFor({ state: 'visible' })

  // Delete forever from the trash.
  await remove('plan.txt')
  await page.getByRole('button', { name: 'Trash' }).click()
  await trash.getByRole('button', { name: 'Delete forever plan.txt' }).click()
  await dialog.getByRole('button', { name: 'Delete forever' }).click()
  await page.locator('#trash-empty').waitFor({ state: 'visible' })
  await page.locator('#usage').filter({ hasText: '1 file' }).waitFor()
  await shoot(page, 'trash-desktop')
  await context.close()
  assert.deepEqual(errors, [])
}

scenarios['search the contents of the files; a bad expression says why'] = async () => {
  const { context, page, errors } = await open(DESKTOP, [400])
  await signUp(page, 'frank', 'a long password')
  await page.locator('#upload-file').setInputFiles({
    name: 'notes.txt',
    mimeType: 'text/plain',
    buffer: Buffer.from('alpha\nthe needle is here\nomega\n'),
  })
  await page.getByRole('button', { name: 'Upload', exact: true }).click()
  await page.getByRole('button', { name: 'Rename notes.txt' }).waitFor({ state: 'visible' })
  const query = page.getByLabel('Search the contents of your files (a regular expression)')
  await query.fill('need+le')
  await page.getByRole('button', { name: 'Search', exact: true }).click()
  const results = page.locator('#search-results')
  await results.locator('#search-title').filter({ hasText: '1 file below $ match "need+le"' }).waitFor()
  assert.equal(await results.locator('pre').innerText(), '2: the needle is here')
  assert.equal(await results.locator('a').innerText(), '$/notes.txt')
  await query.fill('(')
  await page.getByRole('button', { name: 'Search', exact: true }).click()
  await page.locator('#flash.flash-error').waitFor({ state: 'visible' })
  await context.close()
  assert.deepEqual(errors, [])
}

scenarios['a public link with a password, opened in a fresh context, downloads and notifies'] = async () => {
  const { context, page, errors } = await open()
  await signUp(page, 'george', 'a long password')
  await page.locator('#upload-file').setInputFiles({
    name: 'report.txt',
    mimeType: 'text/plain',
    buffer: Buffer.from('the report, all of it'),
  })
  await page.getByRole('button', { name: 'Upload', exact: true }).click()
  await page.getByRole('button', { name: 'Link report.txt' }).click()
  const dialog = page.locator('#dialog')
  await dialog.getByLabel('Password (optional, 8 characters or more)').fill('open sesame 1')
  await dialog.getByLabel('Tell me when it is downloaded').check()
  await dialog.getByRole('button', { name: 'Create link' }).click()
  const address = await dialog.getByLabel('The link').inputValue()
  assert.match(address, /^http:\/\/127\.0\.0\.1:\d+\/s\/[A-Za-z0-9_-]{43}$/)
  await dialog.getByRole('button', { name: 'Done' }).click()

  // Someone without an account: the password form (a 401 page), then the download.
  const visitor = await open(DESKTOP, [401])
  await visitor.page.goto(address)
  await visitor.page.getByLabel('Password').fill('open sesame 1')
  await visitor.page.getByRole('button', { name: 'Open' }).click()
  await visitor.page.getByRole('heading', { name: 'report.txt' }).waitFor()
  const [download] = await Promise.all([
    visitor.page.waitForEvent('download'),
    visitor.page.getByRole('link', { name: 'Download' }).click(),
  ])
  assert.equal(download.suggestedFilename(), 'report.txt')
  assert.equal(fs.readFileSync(await download.path(), 'utf8'), 'the report, all of it')
  await visitor.context.close()
  assert.deepEqual(visitor.errors, [])

  // The owner hears of it, and sees the link's count.
  await page.locator('#notifications').filter({ hasText: 'Your link to "report.txt" was downloaded.' }).waitFor()
  await page.getByRole('button', { name: 'Link report.txt' }).click()
  await dialog.locator('.shares').filter({ hasText: 'password' }).filter({ hasText: '1 download' }).waitFor()
  await dialog.getByRole('button', { name: /^Revoke the link of/ }).click()
  await dialog.locator('.shares').filter({ hasText: 'No link yet.' }).waitFor()
  await dialog.getByRole('button', { name: 'Cancel' }).click()
  await context.close()
  assert.deepEqual(errors, [])
}

scenarios['a share reaches the sharee live, naming the file and the sharer; the sharee leaves it; a withdrawal updates live'] =
  async () => {
    const owner = await open()
    const sharee = await open()
    await signUp(owner.page, 'harry', 'a long password')
    await signUp(sharee.page, 'ivy', 'a long password')
    await owner.page.locator('#upload-file').setInputFiles({
      name: 'plan.pdf',
      mimeType: 'application/pdf',
      buffer: Buffer.from('%PDF-1.4 a plan'),
    })
    await owner.page.getByRole('button', { name: 'Upload', exact: true }).click()
    await owner.page.getByRole('button', { name: 'Share plan.pdf' }).click()
    const dialog = owner.page.locator('#dialog')
    await dialog.getByLabel('Username').fill('ivy')
    await dialog.getByRole('button', { name: 'Share', exact: true }).click()

    const note = sharee.page.locator('#notifications a', { hasText: 'harry shared "plan.pdf" with you (in $).' })
    await note.waitFor()
    await sharee.page.locator('#entries .badge', { hasText: 'shared by harry' }).waitFor()
    await sharee.page.getByRole('button', { name: 'Leave plan.pdf' }).click()
    await sharee.page.locator('#dialog').getByRole('button', { name: 'Leave' }).click()
    await sharee.page.locator('#flash').filter({ hasText: 'You left "plan.pdf".' }).waitFor()
    await sharee.page.locator('#empty').waitFor({ state: 'visible' })
    await owner.page.getByRole('button', { name: 'Rename plan.pdf' }).waitFor({ state: 'visible' })

    // Shared again, then withdrawn by its owner: it leaves the sharee's listing live.
    await owner.page.getByRole('button', { name: 'Share plan.pdf' }).click()
    await dialog.getByLabel('Username').fill('ivy')
    await dialog.getByRole('button', { name: 'Share', exact: true }).click()
    await sharee.page.locator('#entries').getByRole('link', { name: 'plan.pdf', exact: true }).waitFor()
    await owner.page.getByRole('button', { name: 'Share plan.pdf' }).click()
    await dialog.getByRole('button', { name: 'Withdraw the share with ivy' }).click()
    await dialog.getByText('Not shared with anyone yet.').waitFor()
    await dialog.getByRole('button', { name: 'Cancel' }).click()
    await sharee.page.locator('#entries').getByRole('link', { name: 'plan.pdf', exact: true }).waitFor({ state: 'detached' })
    await sharee.page.locator('#notifications').filter({ hasText: 'A file shared with you is no longer shared.' }).waitFor()
    for (const side of [owner, sharee]) {
      await side.context.close()
      assert.deepEqual(side.errors, [])
    }
  }

scenarios['a drop link to a folder takes a file from someone without an account'] = async () => {
  const { context, page, errors } = await open()
  await signUp(page, 'judy', 'a long password')
  await page.getByRole('button', { name: 'New folder' }).click()
  const dialog = page.locator('#dialog')
  await dialog.getByLabel('Folder name').fill('inbox')
  await dialog.getByRole('button', { name: 'Create' }).click()
  await page.waitForURL((url) => url.search === '?path=$/inbox')
  await page.getByRole('button', { name: 'Drop link' }).click()
  await dialog.getByLabel('Most uploads (optional)').fill('3')
  await dialog.getByRole('button', { name: 'Create drop link' }).click()
  const address = await dialog.getByLabel('The link').inputValue()
  assert.match(address, /\/d\/[A-Za-z0-9_-]{43}$/)
  await dialog.getByRole('button', { name: 'Done' }).click()

  const visitor = await open()
  await visitor.page.goto(address)
  await visitor.page.getByLabel('File').setInputFiles({
    name: 'scan.pdf',
    mimeType: 'application/pdf',
    buffer: Buffer.from('%PDF-1.4 a scan'),
  })
  await visitor.page.getByRole('button', { name: 'Upload' }).click()
  // The page's own status line once the server answered (not the line of the file queued).
  await visitor.page.getByText('scan.pdf: received (15 bytes)').waitFor()
  await visitor.context.close()
  assert.deepEqual(visitor.errors, [])

  await page.getByRole('button', { name: 'Rename scan.pdf' }).waitFor({ state: 'visible' })
  await page.getByRole('button', { name: 'Drop link' }).click()
  await dialog.locator('.shares').filter({ hasText: '1 of 3 uploads' }).waitFor()
  await dialog.getByRole('button', { name: /^Revoke the drop link of/ }).click()
  await dialog.locator('.shares').filter({ hasText: 'No drop link to this folder yet.' }).waitFor()
  await dialog.getByRole('button', { name: 'Cancel' }).click()
  await context.close()
  assert.deepEqual(errors, [])
}

scenarios['top users in the side panel; the dark theme follows the system'] = async () => {
  const { context, page, errors } = await open()
  await signUp(page, 'kate', 'a long password')
  await page.locator('#upload-file').setInputFiles({
    name: 'big.bin',
    mimeType: 'application/octet-stream',
    buffer: Buffer.alloc(300_000, 7),
  })
  await page.getByRole('button', { name: 'Upload', exact: true }).click()
  await page.getByRole('button', { name: 'Rename big.bin' }).waitFor({ state: 'visible' })
  await page.getByRole('button', { name: 'Refresh' }).click()
  await page.locator('#top-users li').first().filter({ hasText: 'kate: 1 file, 293 KB' }).waitFor()
  await context.close()
  assert.deepEqual(errors, [])

  const dark = await browser.newContext({ viewport: DESKTOP, baseURL: base, colorScheme: 'dark' })
  const page2 = await dark.newPage()
  await page2.goto('/')
  await page2.locator('#auth-view').waitFor({ state: 'visible' })
  const background = await page2.evaluate(() => getComputedStyle(document.body).backgroundColor)
  assert.equal(background, 'rgb(20, 22, 27)', 'the dark palette applies')
  await shoot(page2, 'login-dark')
  await dark.close()
}

/** Registers `username` through the API; answers the session body. */
async function register(username, password) {
  const response = await fetch(`${base}/api/v1/users`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, email: `${username}@example.com`, password }),
  })
  assert.equal(response.status, 201, await response.clone().text())
  return response.json()
}

/** Logs in on the page through the login form. */
async function logIn(page, username, password) {
  await page.goto('/')
  const form = page.locator('#login-form')
  await form.getByLabel('Username').fill(username)
  await form.getByLabel('Password').fill(password)
  await form.getByRole('button', { name: 'Log in' }).click()
  await page.locator('#files-view').waitFor({ state: 'visible' })
}

/** The page's JavaScript heap in use, after a garbage collection (Chrome DevTools Protocol). */
async function heapUsed(cdp) {
  await cdp.send('HeapProfiler.collectGarbage')
  const { metrics } = await cdp.send('Performance.getMetrics')
  return metrics.find((metric) => metric.name === 'JSHeapUsedSize').value
}

scenarios['a 50 MiB file downloads through the browser, streamed, the page memory flat'] = async () => {
  const size = 50 * 1024 * 1024
  const content = crypto.randomBytes(size)
  await apiUpload(await register('hugo', 'a long password'), '$', 'big.bin', content)

  const { context, page, errors } = await open()
  await logIn(page, 'hugo', 'a long password')
  const cdp = await context.newCDPSession(page)
  await cdp.send('Performance.enable')
  // Bytes that reach the page's own requests (fetch, XHR): a download the browser's
  // download manager makes is not one of them.
  await cdp.send('Network.enable')
  const pageRequests = new Set()
  let pageBytes = 0
  cdp.on('Network.requestWillBeSent', ({ requestId, type }) => {
    if (type === 'Fetch' || type === 'XHR') pageRequests.add(requestId)
  })
  cdp.on('Network.loadingFinished', ({ requestId, encodedDataLength }) => {
    if (pageRequests.has(requestId)) pageBytes += encodedDataLength
  })
  const before = await heapUsed(cdp)
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: 'big.bin' }).click(),
  ])
  assert.equal(download.suggestedFilename(), 'big.bin')
  assert.match(download.url(), /\/api\/v1\/downloads\/[A-Za-z0-9._-]+$/)
  const saved = await download.path()
  const digest = (bytes) => crypto.createHash('sha256').update(bytes).digest('hex')
  assert.equal(fs.statSync(saved).size, size)
  assert.equal(digest(fs.readFileSync(saved)), digest(content))
  assert.ok(pageBytes < 1024 * 1024, `the page itself received ${pageBytes} bytes of a ${size}-byte download`)
  const grown = (await heapUsed(cdp)) - before
  assert.ok(grown < 4 * 1024 * 1024, `the page's heap grew by ${grown} bytes over a ${size}-byte download`)

  // The link's address is a download URL of its own once pointed at: a new tab opens it.
  const link = page.getByRole('link', { name: 'big.bin' })
  await link.hover()
  await page.waitForFunction(() =>
    document.querySelector('a[download="big.bin"]')?.getAttribute('href')?.startsWith('/api/v1/downloads/'),
  )
  const address = new URL(await link.getAttribute('href'), base).href
  const other = await context.request.get(address, { headers: { Range: 'bytes=0-9' } })
  assert.equal(other.status(), 206)
  assert.equal(other.headers()['content-range'], `bytes 0-9/${size}`)
  assert.deepEqual(await other.body(), content.subarray(0, 10))
  await context.close()
  assert.deepEqual(errors, [])
}

/** Uploads `content` as `name` into `folder` through the API, as the session's user. */
async function apiUpload(session, folder, name, content) {
  const query = new URLSearchParams({ folder, name })
  const response = await fetch(`${base}/api/v1/files?${query}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${session.access_token}`, 'Content-Type': 'application/octet-stream' },
    body: content,
  })
  assert.equal(response.status, 201, await response.clone().text())
  return response.json()
}

scenarios['download a folder: a ZIP prepared in the background, fetched from the event link'] = async () => {
  const session = await register('ines', 'a long password')
  await apiUpload(session, '$/trip', 'notes.txt', Buffer.from('day one'))
  await apiUpload(session, '$/trip/photos', 'beach.jpg', crypto.randomBytes(70_000))
  const { context, page, errors } = await open()
  await logIn(page, 'ines', 'a long password')
  await page.getByRole('link', { name: 'trip' }).click()
  await page.locator('#breadcrumb').filter({ hasText: 'trip' }).waitFor()
  await page.getByRole('button', { name: 'Download folder' }).click()
  await page.locator('#flash').filter({ hasText: 'A ZIP of $/trip is being prepared' }).waitFor()
  const ready = page.locator('#notifications').getByRole('link', { name: 'Your download is ready. Start it by clicking here.' })
  const [download] = await Promise.all([page.waitForEvent('download'), ready.click()])
  assert.equal(download.suggestedFilename(), 'trip.zip')
  const zip = fs.readFileSync(await download.path())
  assert.equal(zip.subarray(0, 2).toString(), 'PK')
  for (const entry of ['notes.txt', 'photos/beach.jpg']) assert.ok(zip.includes(entry), `the ZIP holds ${entry}`)
  await context.close()
  assert.deepEqual(errors, [])
}

/** Whether leaving the page now would ask first (its `beforeunload` handler objects). */
async function leavingWarns(page) {
  return page.evaluate(() => {
    const event = new Event('beforeunload', { cancelable: true })
    window.dispatchEvent(event)
    return event.defaultPrevented
  })
}

/** The row of `label` in the upload queue. */
function uploadRow(page, label) {
  return page.locator('#upload-queue li').filter({ has: page.locator('.upload-name', { hasText: label }) })
}

scenarios['several files dropped, one failing: the others upload and the failure says why; a folder keeps its tree'] =
  async () => {
    const session = await register('jules', 'a long password')
    await apiUpload(session, '$', 'taken.txt', Buffer.from('here first'))
    const { context, page, errors } = await open(DESKTOP, [409])
    await logIn(page, 'jules', 'a long password')
    const dataTransfer = await page.evaluateHandle(() => {
      const transfer = new DataTransfer()
      for (const [name, text] of [['one.txt', 'first'], ['taken.txt', 'again'], ['two.txt', 'second']]) {
        transfer.items.add(new File([text], name, { type: 'text/plain' }))
      }
      return transfer
    })
    await page.dispatchEvent('#files-view', 'dragenter', { dataTransfer })
    assert.ok(await page.locator('#files-view.drop-target').isVisible(), 'the page shows where to drop')
    await page.dispatchEvent('#files-view', 'drop', { dataTransfer })
    await page.locator('#flash').filter({ hasText: '1 upload failed: "taken.txt"' }).waitFor()
    assert.match(await page.locator('#flash').innerText(), /2 files uploaded/)
    await uploadRow(page, 'taken.txt').filter({ hasText: /failed: .*already exists/i }).waitFor()
    for (const name of ['one.txt', 'two.txt']) {
      await uploadRow(page, name).filter({ hasText: 'done' }).waitFor()
      await page.getByRole('link', { name }).waitFor()
    }
    assert.equal(await leavingWarns(page), false, 'nothing is left to upload')
    await shoot(page, 'upload-queue-desktop')

    // A folder from the folder picker: its files land in folders of the same names.
    const tree = fs.mkdtempSync(path.join(os.tmpdir(), 'drip-album-'))
    fs.mkdirSync(path.join(tree, 'album', 'deep'), { recursive: true })
    fs.writeFileSync(path.join(tree, 'album', 'cover.txt'), 'the cover')
    fs.writeFileSync(path.join(tree, 'album', 'deep', 'liner.txt'), 'the notes')
    await page.locator('#upload-folder').setInputFiles(path.join(tree, 'album'))
    // (The first batch's flash also ends in "2 files uploaded.": wait for the rows.)
    for (const label of ['album/cover.txt', 'album/deep/liner.txt']) {
      await uploadRow(page, label).filter({ hasText: 'done' }).waitFor()
    }
    await page.locator('#flash').filter({ hasText: /^2 files uploaded\.$/ }).waitFor()
    await page.getByRole('button', { name: 'Clear finished uploads' }).click()
    assert.equal(await page.locator('#upload-queue li').count(), 0)
    await page.getByRole('link', { name: 'album' }).click()
    await page.getByRole('link', { name: 'cover.txt' }).waitFor()
    await page.getByRole('link', { name: 'deep' }).click()
    await page.getByRole('link', { name: 'liner.txt' }).waitFor()
    fs.rmSync(tree, { recursive: true, force: true })
    await context.close()
    assert.deepEqual(errors, [])
  }

scenarios['a big upload goes resumably: the network cut mid-way, it resumes where the server stands'] =
  async () => {
    const size = 24 * 1024 * 1024
    const chunk = 8 * 1024 * 1024
    const content = crypto.randomBytes(size)
    await register('kim', 'a long password')
    const { context, page, errors } = await open()
    await logIn(page, 'kim', 'a long password')
    const creations = []
    page.on('request', (request) => {
      if (request.method() === 'POST' && request.url().endsWith('/api/v1/uploads')) creations.push(request.url())
    })
    // The second chunk's request is cut by the network going away.
    const offsets = []
    let cut = false
    await page.route('**/api/v1/uploads/*', async (route) => {
      const request = route.request()
      if (request.method() === 'PATCH') {
        offsets.push(Number(request.headers()['upload-offset']))
        if (offsets.length === 2 && !cut) {
          cut = true
          await context.setOffline(true)
          await route.abort('internetdisconnected')
          return
        }
      }
      await route.continue()
    })
    await page.locator('#upload-file').setInputFiles({ name: 'film.bin', mimeType: 'application/octet-stream', buffer: content })
    await page.getByRole('button', { name: 'Upload', exact: true }).click()
    const row = uploadRow(page, 'film.bin')
    await row.filter({ hasText: 'waiting for the network to resume' }).waitFor()
    assert.equal(await leavingWarns(page), true, 'leaving mid-upload asks first')
    await context.setOffline(false)
    await row.filter({ hasText: 'done' }).waitFor()
    assert.equal(creations.length, 1, 'one upload, resumed, not started again')
    assert.deepEqual(offsets, [0, chunk, chunk, 2 * chunk], 'after the cut it went on from the durable offset')
    assert.equal(await leavingWarns(page), false)

    await page.unroute('**/api/v1/uploads/*')
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'film.bin' }).click(),
    ])
    const digest = (bytes) => crypto.createHash('sha256').update(bytes).digest('hex')
    assert.equal(digest(fs.readFileSync(await download.path())), digest(content))
    await context.close()
    assert.deepEqual(errors.filter((line) => !line.includes('ERR_INTERNET_DISCONNECTED')), [])
  }

scenarios['one session across tabs: a new tab is logged in, a logout ends every tab'] = async () => {
  await register('lena', 'a long password')
  const { context, page, errors } = await open()
  // A second tab already on the login page is logged in by the first tab's login.
  const waiting = await context.newPage()
  await waiting.goto('/')
  await waiting.locator('#auth-view').waitFor({ state: 'visible' })
  await logIn(page, 'lena', 'a long password')
  await waiting.locator('#files-view').waitFor({ state: 'visible' })
  assert.equal(await waiting.locator('#whoami').innerText(), 'lena')
  // A link opened in a new tab shows its folder without asking to log in.
  const fresh = await context.newPage()
  await fresh.goto('/?path=%24')
  await fresh.locator('#files-view').waitFor({ state: 'visible' })
  assert.equal(await fresh.locator('#whoami').innerText(), 'lena')
  await fresh.getByRole('button', { name: 'Log out' }).click()
  for (const tab of [page, waiting, fresh]) await tab.locator('#auth-view').waitFor({ state: 'visible' })
  // With no tab holding a session, a new tab asks to log in.
  const last = await context.newPage()
  await last.goto('/')
  await last.locator('#auth-view').waitFor({ state: 'visible' })
  await context.close()
  assert.deepEqual(errors, [])
}

scenarios['move with the folder picker: click down the tree, up again, and move'] = async () => {
  const session = await register('max', 'a long password')
  await apiUpload(session, '$', 'notes.txt', Buffer.from('to file away'))
  await apiUpload(session, '$/projects/alpha', 'plan.txt', Buffer.from('alpha'))
  await apiUpload(session, '$/projects/beta', 'plan.txt', Buffer.from('beta'))
  const { context, page, errors } = await open()
  await logIn(page, 'max', 'a long password')
  await page.getByRole('button', { name: 'Move notes.txt' }).click()
  const dialog = page.locator('#dialog')
  const target = dialog.getByLabel('To folder')
  await dialog.getByRole('button', { name: 'Choose $/projects' }).click()
  await dialog.getByText('Folders in $/projects:').waitFor()
  await dialog.getByRole('button', { name: 'Choose $/projects/beta' }).click()
  assert.equal(await target.inputValue(), '$/projects/beta')
  await dialog.getByRole('button', { name: 'Choose $/projects', exact: true }).click()
  await dialog.getByRole('button', { name: 'Choose $/projects/alpha' }).click()
  assert.equal(await target.inputValue(), '$/projects/alpha')
  await dialog.getByText('No folders below this one.').waitFor()
  await shoot(page, 'move-picker-desktop')
  await dialog.getByRole('button', { name: 'Move', exact: true }).click()
  await page.locator('#flash').filter({ hasText: '"notes.txt" was moved to $/projects/alpha.' }).waitFor()
  await page.getByRole('link', { name: 'projects' }).click()
  await page.getByRole('link', { name: 'alpha' }).click()
  await page.getByRole('link', { name: 'notes.txt' }).waitFor()
  await context.close()
  assert.deepEqual(errors, [])
}

/** The file names of the listing, top to bottom. */
function listedNames(page) {
  return page.locator('#entries a[download]').allInnerTexts()
}

scenarios['the listing: sort by column, filter, select several to move and delete, preview'] = async () => {
  const session = await register('nora', 'a long password')
  // A 1×1 PNG.
  const png = Buffer.from(
    'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
    'base64',
  )
  await apiUpload(session, '$', 'beta.txt', Buffer.from('b'.repeat(300)))
  await apiUpload(session, '$', 'alpha.txt', Buffer.from('the first lines of alpha'))
  await apiUpload(session, '$', 'gamma.png', png)
  await apiUpload(session, '$/archive', 'old.txt', Buffer.from('old'))
  const { context, page, errors } = await open()
  await logIn(page, 'nora', 'a long password')
  await page.getByRole('link', { name: 'gamma.png' }).waitFor()
  assert.deepEqual(await listedNames(page), ['alpha.txt', 'beta.txt', 'gamma.png'])
  await page.getByRole('button', { name: 'Sort by size' }).click()
  assert.deepEqual(await listedNames(page), ['alpha.txt', 'gamma.png', 'beta.txt'])
  await page.getByRole('button', { name: 'Sort by size' }).click()
  assert.deepEqual(await listedNames(page), ['beta.txt', 'gamma.png', 'alpha.txt'])
  assert.equal(await page.locator('th', { has: page.getByRole('button', { name: 'Sort by size' }) }).getAttribute('aria-sort'), 'descending')
  await page.getByRole('button', { name: 'Sort by type' }).click()
  assert.deepEqual(await listedNames(page), ['gamma.png', 'alpha.txt', 'beta.txt'])
  await page.getByRole('button', { name: 'Sort by name' }).click()

  await page.getByLabel('Filter this folder').fill('ALP')
  assert.deepEqual(await listedNames(page), ['alpha.txt'])
  assert.equal(await page.getByRole('link', { name: 'archive/' }).count(), 0)
  await page.getByLabel('Filter this folder').fill('zzz')
  await page.getByText('Nothing here matches "zzz".').waitFor()
  await page.getByLabel('Filter this folder').fill('')

  // Previews: the image and the start of a text.
  await page.getByRole('button', { name: 'Preview gamma.png' }).click()
  const dialog = page.locator('#dialog')
  await dialog.getByRole('img', { name: 'gamma.png' }).waitFor()
  assert.equal(await dialog.getByRole('img').evaluate((image) => image.complete && image.naturalWidth), 1)
  await dialog.getByRole('button', { name: 'Close' }).click()
  await page.getByRole('button', { name: 'Preview alpha.txt' }).click()
  await dialog.locator('pre').filter({ hasText: 'the first lines of alpha' }).waitFor()
  await dialog.getByRole('button', { name: 'Close' }).click()

  await page.getByLabel('Select alpha.txt').check()
  await page.getByLabel('Select beta.txt').check()
  await page.getByText('2 files selected').waitFor()
  await shoot(page, 'listing-selection-desktop')
  await page.getByRole('button', { name: 'Move selected' }).click()
  await dialog.getByRole('button', { name: 'Choose $/archive' }).click()
  await dialog.getByRole('button', { name: 'Move', exact: true }).click()
  await page.locator('#flash').filter({ hasText: '2 files moved to $/archive.' }).waitFor()
  // The folder is listed again after the flash: wait for the moved rows to go.
  await page.getByRole('link', { name: 'alpha.txt' }).waitFor({ state: 'detached' })
  assert.deepEqual(await listedNames(page), ['gamma.png'])
  assert.ok(await page.locator('#selection-bar').isHidden())
  await page.getByRole('link', { name: 'archive/' }).click()
  await page.getByRole('link', { name: 'old.txt' }).waitFor()
  for (const name of ['alpha.txt', 'old.txt']) await page.getByLabel(`Select ${name}`).check()
  await page.getByRole('button', { name: 'Delete selected' }).click()
  await dialog.getByRole('button', { name: 'Delete', exact: true }).click()
  await page.locator('#flash').filter({ hasText: '2 files moved to the trash.' }).waitFor()
  await page.getByRole('link', { name: 'old.txt' }).waitFor({ state: 'detached' })
  assert.deepEqual(await listedNames(page), ['beta.txt'])
  await context.close()
  assert.deepEqual(errors, [])
}

/** A JSON call to the API as the session's user; answers the body. */
async function apiCall(session, method, uri, body) {
  const response = await fetch(`${base}${uri}`, {
    method,
    headers: { Authorization: `Bearer ${session.access_token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  assert.ok(response.ok, `${method} ${uri}: ${response.status} ${await response.clone().text()}`)
  return response.status === 204 ? null : response.json()
}

/** The open dialog lies within the viewport, and the page does not overflow. */
async function dialogFits(page) {
  const box = await page.locator('#dialog').boundingBox()
  const width = page.viewportSize().width
  assert.ok(box && box.x >= 0 && box.x + box.width <= width, `the dialog spans ${box?.x}..${box && box.x + box.width} of ${width} px`)
  await fitsWidth(page)
}

scenarios['every main screen and dialog fits a 375 px phone, in the dark theme'] = async () => {
  const session = await register('olga', 'a long password')
  const long = 'minutes of the extraordinary general assembly of the north-western region (final).txt'
  const file = await apiUpload(session, '$/meetings of the board', long, Buffer.from('we met'))
  await apiUpload(session, '$', 'photo.png', Buffer.from('not really a png'))
  const link = await apiCall(session, 'POST', `/api/v1/files/${file.id}/links`, {})
  const drop = await apiCall(session, 'POST', '/api/v1/drops', { folder: '$/meetings of the board' })
  // The pages of links, for visitors on a phone.
  const visitor = await open(MOBILE, [], { colorScheme: 'dark' })
  for (const [address, name] of [[link.url, 'link-page-dark-mobile'], [drop.url, 'drop-page-dark-mobile']]) {
    await visitor.page.goto(address)
    await fitsWidth(visitor.page)
    await shoot(visitor.page, name)
  }
  await visitor.context.close()
  assert.deepEqual(visitor.errors, [])

  const { context, page, errors } = await open(MOBILE, [], { colorScheme: 'dark' })
  await logIn(page, 'olga', 'a long password')
  assert.equal(await page.evaluate(() => getComputedStyle(document.body).backgroundColor), 'rgb(20, 22, 27)')
  await page.getByRole('link', { name: 'meetings of the board/' }).click()
  await page.getByRole('link', { name: long, exact: true }).waitFor()
  await fitsWidth(page)
  await shoot(page, 'files-dark-mobile')

  const dialogs = [
    [`Rename ${long}`, 'Cancel'],
    [`Move ${long}`, 'Cancel'],
    [`Share ${long}`, 'Cancel'],
    [`Link ${long}`, 'Cancel'],
    ['New folder', 'Cancel'],
    ['Drop link', 'Cancel'],
    [`Preview ${long}`, 'Close'],
  ]
  for (const [opener, closer] of dialogs) {
    await page.getByRole('button', { name: opener, exact: true }).click()
    await page.locator('#dialog').waitFor({ state: 'visible' })
    await dialogFits(page)
    if (opener.startsWith('Move')) await shoot(page, 'move-dark-mobile')
    await page.locator('#dialog').getByRole('button', { name: closer, exact: true }).click()
    await page.locator('#dialog').waitFor({ state: 'hidden' })
  }

  await page.getByLabel('Select', { exact: false }).first().check()
  await fitsWidth(page)
  const dataTransfer = await page.evaluateHandle((name) => {
    const transfer = new DataTransfer()
    transfer.items.add(new File(['agenda'], `agenda for ${name}`, { type: 'text/plain' }))
    return transfer
  }, long)
  await page.dispatchEvent('#files-view', 'drop', { dataTransfer })
  await uploadRow(page, 'agenda for').filter({ hasText: 'done' }).waitFor()
  await fitsWidth(page)

  await page.getByLabel('Search the contents of your files (a regular expression)').fill('we met')
  await page.getByRole('button', { name: 'Search', exact: true }).click()
  await page.locator('#search-results').waitFor({ state: 'visible' })
  await fitsWidth(page)

  await page.getByRole('button', { name: `Delete ${long}`, exact: true }).click()
  await page.locator('#dialog').getByRole('button', { name: 'Delete', exact: true }).click()
  await page.getByRole('link', { name: long, exact: true }).waitFor({ state: 'detached' })
  await page.getByRole('button', { name: 'Trash' }).click()
  await page.locator('#trash-view').waitFor({ state: 'visible' })
  await fitsWidth(page)
  await shoot(page, 'trash-dark-mobile')

  await context.close()
  assert.deepEqual(errors, [])
}

scenarios['keyboard only: log in and upload without the mouse'] = async () => {
  const setup = await open()
  await signUp(setup.page, 'leo', 'a long password')
  await setup.context.close()

  const { context, page, errors } = await open()
  await page.goto('/')
  await page.locator('#auth-view').waitFor({ state: 'visible' })
  // From the top of the page: the brand link, then the login form's fields.
  await page.keyboard.press('Tab')
  await page.keyboard.press('Tab')
  assert.equal(await page.evaluate(() => document.activeElement?.closest('form')?.id), 'login-form')
  await page.keyboard.type('leo')
  await page.keyboard.press('Tab')
  await page.keyboard.type('a long password')
  await page.keyboard.press('Enter')
  await page.locator('#files-view').waitFor({ state: 'visible' })
  // The listing and the live connection are in: nothing re-renders under the focus now.
  await page.locator('#empty').waitFor({ state: 'visible' })
  await page.locator('#online').filter({ hasText: 'leo (count: 1)' }).waitFor()

  // Tab to the file picker, open it with the keyboard, then Tab to Upload and press Enter.
  let picker = ''
  for (let step = 0; step < 15 && picker !== 'upload-file'; step += 1) {
    await page.keyboard.press('Tab')
    picker = await page.evaluate(() => document.activeElement?.id ?? '')
  }
  assert.equal(picker, 'upload-file', 'the file picker is reachable with Tab')
  const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.keyboard.press('Space')])
  await chooser.setFiles({ name: 'typed.txt', mimeType: 'text/plain', buffer: Buffer.from('no mouse') })
  await page.keyboard.press('Tab')
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'upload-button')
  await page.keyboard.press('Enter')
  await page.getByRole('button', { name: 'Rename typed.txt' }).waitFor({ state: 'visible' })
  await context.close()
  assert.deepEqual(errors, [])
}

/** Only the scenarios whose names contain DRIP_BROWSER_ONLY, when it is set (for development). */
const only = process.env.DRIP_BROWSER_ONLY ?? ''
const chosen = Object.entries(scenarios).filter(([name]) => name.includes(only))
let failed = 0
for (const [name, scenario] of chosen) {
  const started = Date.now()
  try {
    await scenario()
    console.log(`PASS ${name} (${Date.now() - started} ms)`)
  } catch (error) {
    failed += 1
    console.log(`FAIL ${name}\n${error.stack ?? error}`)
  }
}
await browser.close()
console.log(`${chosen.length - failed} passed, ${failed} failed`)
process.exit(failed === 0 && chosen.length > 0 ? 0 : 1)
