// Accounts and the session: sign-up, login, folders, usage, tabs, the keyboard.

import assert from 'node:assert/strict'
import { base, DESKTOP, MOBILE, browser, open, shoot, fitsWidth, signUp, register, logIn, apiUpload, apiCall, uploadInPage } from '../harness.mjs'

export const scenarios = {}

scenarios['sign up, log out, log in again; the auth screen on desktop and mobile'] = async () => {
  // The second sign-up as alice is refused on purpose: 409.
  const { context, page, errors } = await open(DESKTOP, [409])
  await page.goto('/')
  await page.locator('#auth-view').waitFor({ state: 'visible' })
  await shoot(page, 'login-desktop')
  await signUp(page, 'alice', 'a long password')
  await shoot(page, 'files-desktop')
  await page.getByRole('button', { name: 'Log out' }).click()
  await page.locator('#auth-view').waitFor({ state: 'visible' })
  // A refused sign-up (the name is taken) leaves the focus in its form, not on the page.
  const signup = page.locator('#signup-form')
  await signup.getByLabel('Username').fill('alice')
  await signup.getByLabel('Email').fill('another@example.com')
  await signup.getByLabel('Password').fill('a long password')
  await signup.getByRole('button', { name: 'Create account' }).click()
  await page.locator('#flash.flash-error').waitFor()
  assert.equal(await page.evaluate(() => document.activeElement?.closest('form')?.id), 'signup-form')
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
}

scenarios['a wrong password is cleared, row actions name their file, a bad name says why, a stale error goes on navigation'] =
  async () => {
    const { context, page, errors } = await open(DESKTOP, [400, 401])
    await signUp(page, 'bob', 'a long password')
    await uploadInPage(page, {
      name: 'notes.txt',
      mimeType: 'text/plain',
      buffer: Buffer.from('hello from the browser'),
    })
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
    // The welcome was about the sign-up: another folder shown, it goes.
    await page.locator('#flash').waitFor({ state: 'hidden' })
    assert.ok(await page.getByRole('button', { name: 'Download folder' }).isDisabled(), 'nothing to put in a ZIP')

    await uploadInPage(page, {
      name: 'q3.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from('quarter,total\n3,42\n'),
    })
    await page.getByRole('button', { name: 'Rename q3.csv' }).waitFor({ state: 'visible' })
    await page.locator('#breadcrumb a').first().click()
    await page.locator('#entries a', { hasText: 'reports/' }).waitFor({ state: 'visible' })
    await page.locator('#usage').filter({ hasText: '1 file' }).waitFor()
    await context.close()
    assert.deepEqual(errors, [])
  }

scenarios['top users in the side panel; the dark theme follows the system'] = async () => {
  const { context, page, errors } = await open()
  await signUp(page, 'kate', 'a long password')
  await uploadInPage(page, {
    name: 'big.bin',
    mimeType: 'application/octet-stream',
    buffer: Buffer.alloc(300_000, 7),
  })
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

scenarios['keyboard only: log in and upload without the mouse'] = async () => {
  const setup = await open()
  await signUp(setup.page, 'leo', 'a long password')
  await setup.context.close()

  const { context, page, errors } = await open()
  await page.goto('/')
  await page.locator('#auth-view').waitFor({ state: 'visible' })
  // From the top of the page: the skip link, which leads past the header to the form.
  await page.keyboard.press('Tab')
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'skip-link')
  assert.ok(await page.locator('#skip-link').isVisible(), 'it shows once focused')
  await page.keyboard.press('Enter')
  assert.equal(await page.evaluate(() => document.activeElement?.closest('form')?.id), 'login-form')
  await page.keyboard.type('leo')
  await page.keyboard.press('Tab')
  await page.keyboard.type('a long password')
  await page.keyboard.press('Enter')
  await page.locator('#files-view').waitFor({ state: 'visible' })
  // The listing and the live connection are in: nothing re-renders under the focus now.
  await page.locator('#empty').waitFor({ state: 'visible' })
  await page.locator('#online').filter({ hasText: 'leo (count: 1)' }).waitFor()

  // Tab to the file picker and open it with the keyboard: the file chosen goes up.
  let picker = ''
  for (let step = 0; step < 15 && picker !== 'upload-file'; step += 1) {
    await page.keyboard.press('Tab')
    picker = await page.evaluate(() => document.activeElement?.id ?? '')
  }
  assert.equal(picker, 'upload-file', 'the file picker is reachable with Tab')
  const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.keyboard.press('Space')])
  await chooser.setFiles({ name: 'typed.txt', mimeType: 'text/plain', buffer: Buffer.from('no mouse') })
  await page.getByRole('button', { name: 'Rename typed.txt' }).waitFor({ state: 'visible' })
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'upload-file', 'the focus stays on the picker')
  await context.close()
  assert.deepEqual(errors, [])
}

/** What has the keyboard focus: its accessible name (or id), and whether the dialog holds it. */
async function focused(page) {
  return page.evaluate(() => {
    const at = document.activeElement
    return {
      name: at?.getAttribute('aria-label') ?? at?.id ?? at?.tagName ?? '',
      inDialog: Boolean(at?.closest('dialog[open]')),
    }
  })
}

scenarios['keyboard only: a dialog keeps the focus, Escape closes it, the focus returns to its row'] = async () => {
  const session = await register('pia', 'a long password')
  for (const name of ['a.txt', 'b.txt', 'c.txt']) await apiUpload(session, '$', name, Buffer.from(name))
  const { context, page, errors } = await open()
  await logIn(page, 'pia', 'a long password')
  await page.locator('#online').filter({ hasText: 'pia (count: 1)' }).waitFor()
  await page.getByRole('button', { name: 'Rename b.txt' }).focus()

  // Enter opens it with the name selected; Tab and Shift+Tab go round inside it.
  await page.keyboard.press('Enter')
  await page.locator('#dialog[open]').waitFor()
  assert.deepEqual(await focused(page), { name: 'dialog-input', inDialog: true })
  const seen = new Set()
  for (const key of ['Tab', 'Tab', 'Tab', 'Tab', 'Tab', 'Shift+Tab', 'Shift+Tab', 'Shift+Tab', 'Shift+Tab']) {
    await page.keyboard.press(key)
    const now = await focused(page)
    assert.ok(now.inDialog, `${key} left the dialog for ${now.name}`)
    seen.add(now.name)
  }
  assert.deepEqual([...seen].sort(), ['dialog-cancel', 'dialog-input', 'dialog-ok'])
  // Escape closes it, nothing renamed, and the focus is back on the button that opened it.
  await page.keyboard.press('Escape')
  await page.locator('#dialog').waitFor({ state: 'hidden' })
  assert.deepEqual(await focused(page), { name: 'Rename b.txt', inDialog: false })

  // Renamed: the row is drawn anew, and the focus is on its button again.
  await page.keyboard.press('Enter')
  await page.locator('#dialog[open]').waitFor()
  await page.keyboard.type('bee.txt')
  await page.keyboard.press('Enter')
  await page.getByRole('button', { name: 'Rename bee.txt' }).waitFor()
  await page.waitForFunction(() => document.activeElement?.getAttribute('aria-label') === 'Rename bee.txt')

  // Deleted: the row is gone, and the focus goes to the row that took its place.
  await page.keyboard.press('Tab')
  await page.keyboard.press('Tab')
  await page.keyboard.press('Tab')
  await page.keyboard.press('Tab')
  assert.deepEqual(await focused(page), { name: 'Delete bee.txt', inDialog: false })
  await page.keyboard.press('Enter')
  await page.locator('#dialog[open]').waitFor()
  assert.ok((await focused(page)).inDialog, 'the confirmation takes the focus')
  // Cancel has it first (a confirmation is not taken by a stray Enter); Tab to Delete.
  assert.equal((await focused(page)).name, 'dialog-cancel')
  await page.keyboard.press('Tab')
  await page.keyboard.press('Enter')
  await page.getByRole('button', { name: 'Rename bee.txt' }).waitFor({ state: 'detached' })
  await page.waitForFunction(() => document.activeElement?.closest('tr')?.textContent?.includes('c.txt'))
  await context.close()
  assert.deepEqual(errors, [])
}

scenarios['a session ended elsewhere ends this tab too: the login page, not a tab reconnecting forever'] = async () => {
  await register('sam', 'a long password')
  // The check that finds the session gone is refused on purpose: 401.
  const { context, page, errors } = await open(DESKTOP, [401])
  await logIn(page, 'sam', 'a long password')
  await page.locator('#online').filter({ hasText: 'sam (count: 1)' }).waitFor()
  // Logged out on another device: the session's refresh token is revoked by the API.
  const stored = await page.evaluate(() => JSON.parse(sessionStorage.getItem('drip.session') ?? 'null'))
  assert.ok(stored?.refresh_token, 'the tab keeps its session in sessionStorage')
  const revoked = await fetch(`${base}/api/v1/sessions`, {
    method: 'DELETE',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ refresh_token: stored.refresh_token }),
  })
  assert.equal(revoked.status, 204)
  await page.locator('#auth-view').waitFor({ state: 'visible' })
  await page.locator('#flash').filter({ hasText: 'You need to be logged in to view this content.' }).waitFor()
  await context.close()
  assert.deepEqual(errors, [])
}

scenarios['the account page: a new password ends the other sessions; closing the account deletes it'] = async () => {
  const other = await register('tess', 'the first password')
  await apiUpload(other, '$/docs', 'cv.txt', Buffer.from('cv'))
  // The wrong passwords typed on purpose: 401, not a lost session.
  const { context, page, errors } = await open(DESKTOP, [401])
  await logIn(page, 'tess', 'the first password')
  await page.getByRole('button', { name: 'Account' }).click()
  await page.locator('#account-view').waitFor({ state: 'visible' })
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'account-title')
  const facts = page.locator('#account-facts')
  await facts.getByText('tess@example.com').waitFor()
  await facts.getByText('1 file', { exact: false }).waitFor()

  const form = page.locator('#password-form')
  const change = async (current, next, again = next) => {
    await form.getByLabel('Current password').fill(current)
    await form.getByLabel('New password (8 to 100 characters)').fill(next)
    await form.getByLabel('New password again').fill(again)
    await form.getByRole('button', { name: 'Change password' }).click()
  }
  await change('the first password', 'a second password', 'a second passwort')
  await form.getByText('The two new passwords are not the same.').waitFor()
  await change('not my password', 'a second password')
  await form.getByText('That is not your current password.').waitFor()
  assert.equal(await form.getByLabel('Current password').inputValue(), '', 'the wrong password is cleared')
  await change('the first password', 'a second password')
  await page.locator('#flash').filter({ hasText: 'Your password was changed. Your other sessions were logged out.' }).waitFor()
  assert.equal(await form.getByLabel('Current password').inputValue(), '')
  const elsewhere = await fetch(`${base}/api/v1/me`, { headers: { Authorization: `Bearer ${other.access_token}` } })
  assert.equal(elsewhere.status, 401, 'the session of the API client ended')
  await shoot(page, 'account-desktop')
  // This session goes on.
  await page.getByRole('button', { name: 'Back to files' }).click()
  await page.getByRole('link', { name: 'docs/' }).waitFor()

  await page.getByRole('button', { name: 'Account' }).click()
  const close = page.locator('#close-form')
  await close.getByLabel('Your password').fill('the first password')
  await close.getByRole('button', { name: 'Close my account' }).click()
  const dialog = page.locator('#dialog')
  await dialog.getByRole('button', { name: 'Close my account' }).click()
  await close.getByText('That is not your password.').waitFor()
  await close.getByLabel('Your password').fill('a second password')
  await close.getByRole('button', { name: 'Close my account' }).click()
  await dialog.getByRole('button', { name: 'Close my account' }).click()
  await page.locator('#auth-view').waitFor({ state: 'visible' })
  await page.locator('#flash').filter({ hasText: 'Your account was closed, and everything in it deleted.' }).waitFor()
  const login = await fetch(`${base}/api/v1/sessions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: 'tess', password: 'a second password' }),
  })
  assert.equal(login.status, 401, 'the account is gone')
  await context.close()
  assert.deepEqual(errors, [])
}

scenarios['the account page lists where one is logged in; logging out another browser sends it to the login page'] = async () => {
  const script = await register('yara', 'a long password')
  const { context, page, errors } = await open(DESKTOP)
  await logIn(page, 'yara', 'a long password')
  // The phone finds its session gone on purpose: 401.
  const phoneAgent = 'Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Mobile Safari/537.36'
  const phone = await open(MOBILE, [401], { userAgent: phoneAgent })
  await logIn(phone.page, 'yara', 'a long password')
  await phone.page.locator('#online').filter({ hasText: 'yara (count: 2)' }).waitFor()

  await page.getByRole('button', { name: 'Account' }).click()
  const sessions = page.locator('#session-list > li')
  await sessions.nth(2).waitFor()
  assert.equal(await sessions.count(), 3, 'this browser, the phone and the API client')
  const here = sessions.filter({ hasText: 'this browser' })
  await here.getByText('Chrome on Linux').waitFor()
  assert.equal(await here.getByRole('button').count(), 0, 'this one is left by logging out')
  assert.match(await here.innerText(), /^Chrome on Linux\s+this browser\s+last active .+, logged in .+$/)
  await sessions.filter({ hasText: 'Chrome on Android' }).waitFor()

  await page.getByRole('button', { name: /^Log out there \(Chrome on Android, last active / }).click()
  await page.locator('#flash').filter({ hasText: 'That session was logged out.' }).waitFor()
  await phone.page.locator('#auth-view').waitFor({ state: 'visible' })
  await phone.page.locator('#flash').filter({ hasText: 'You need to be logged in to view this content.' }).waitFor()
  await sessions.filter({ hasText: 'Chrome on Android' }).waitFor({ state: 'detached' })

  await page.getByRole('button', { name: 'Log out everywhere else' }).click()
  await page.locator('#flash').filter({ hasText: 'That session was logged out.' }).waitFor()
  const elsewhere = await fetch(`${base}/api/v1/me`, { headers: { Authorization: `Bearer ${script.access_token}` } })
  assert.equal(elsewhere.status, 401, 'the API client was logged out too')
  await page.waitForFunction(() => document.querySelectorAll('#session-list > li').length === 1)
  assert.equal(await page.getByRole('button', { name: 'Log out everywhere else' }).isVisible(), false)
  // This one goes on.
  await page.getByRole('button', { name: 'Back to files' }).click()
  await page.locator('#files-view').waitFor({ state: 'visible' })
  await phone.context.close()
  await context.close()
  assert.deepEqual(errors, [])
  assert.deepEqual(phone.errors, [])
}

scenarios['near the quota the usage says so, in words and in colour'] = async () => {
  const zoe = await register('zoe', 'a long password')
  // 95 MB of the suite's 100 MB quota: past the 90 % mark however MB is counted.
  const file = await apiUpload(zoe, '$', 'backup.bin', Buffer.alloc(95_000_000, 7))
  const { context, page, errors } = await open(DESKTOP)
  await logIn(page, 'zoe', 'a long password')
  const usage = page.locator('#usage.usage-low')
  await usage.filter({ hasText: /^Storage almost full: 1 file, [\d.]+ MB of 100 MB \([\d.]+ MB free\)$/ }).waitFor()
  const colour = await usage.evaluate((box) => getComputedStyle(box).color)
  const muted = await page.locator('.muted').first().evaluate((box) => getComputedStyle(box).color)
  assert.notEqual(colour, muted, 'the warning is not in the usual muted grey')
  // Freed again, it is the usual figure.
  await apiCall(zoe, 'DELETE', `/api/v1/files/${file.id}?permanent=true`)
  await page.reload()
  await page.locator('#usage:not(.usage-low)').filter({ hasText: /^0 files, 0 B of 100 MB/ }).waitFor()
  await context.close()
  assert.deepEqual(errors, [])
}
