// Sharing: shares between users, public links, drop links.

import assert from 'node:assert/strict'
import fs from 'node:fs'
import { DESKTOP, open, signUp, uploadInPage, register, logIn, apiUpload, apiCall } from '../harness.mjs'

export const scenarios = {}

scenarios['a public link with a password, opened in a fresh context, downloads and notifies'] = async () => {
  const { context, page, errors } = await open()
  await signUp(page, 'george', 'a long password')
  await uploadInPage(page, {
    name: 'report.txt',
    mimeType: 'text/plain',
    buffer: Buffer.from('the report, all of it'),
  })
  await page.getByRole('button', { name: 'Link report.txt' }).click()
  const dialog = page.locator('#dialog')
  // Bad options are told in words, not in the API's field names.
  await dialog.getByLabel('Most downloads (optional)').fill('0')
  await dialog.getByRole('button', { name: 'Create link' }).click()
  await dialog.getByRole('alert').filter({ hasText: 'Most downloads is a whole number, 1 or more.' }).waitFor()
  await dialog.getByLabel('Most downloads (optional)').fill('')
  await dialog.getByLabel('Password (optional, 8 characters or more)').fill('open sesame 1')
  await dialog.getByLabel('Tell me when it is downloaded').check()
  await dialog.getByRole('button', { name: 'Create link' }).click()
  const address = await dialog.getByLabel('The link').inputValue()
  assert.match(address, /^http:\/\/127\.0\.0\.1:\d+\/s\/[A-Za-z0-9_-]{43}$/)
  await dialog.getByRole('button', { name: 'Done' }).click()

  // Someone without an account: the password form (a 401 page), then the download.
  const visitor = await open(DESKTOP, [401])
  await visitor.page.goto(address)
  // Mistyped first: the form again, saying so.
  await visitor.page.getByLabel('Password').fill('open sesame 2')
  await visitor.page.getByRole('button', { name: 'Open' }).click()
  await visitor.page.getByRole('alert').filter({ hasText: 'That password is not right. Try again.' }).waitFor()
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
    await uploadInPage(owner.page, [
      { name: 'plan.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4 a plan') },
      { name: 'memo.txt', mimeType: 'text/plain', buffer: Buffer.from('a memo') },
    ])
    await owner.page.getByRole('button', { name: 'Share memo.txt' }).waitFor()
    await owner.page.getByRole('button', { name: 'Share plan.pdf' }).click()
    const dialog = owner.page.locator('#dialog')
    // Nobody is suggested before a first share: the dialog names no user it was not told of.
    await dialog.getByText('No one yet: type their username.').waitFor()
    await dialog.getByLabel('Username').fill('ivy')
    await dialog.getByRole('button', { name: 'Share', exact: true }).click()

    const note = sharee.page.locator('#notifications a', { hasText: 'harry shared "plan.pdf" with you (in $).' })
    await note.waitFor()
    // The sharer hears of it as a confirmation, not as a share with them.
    await owner.page.locator('#notifications li', { hasText: 'Successfully shared the file with ivy.' }).waitFor()
    assert.equal(await owner.page.locator('#notifications li', { hasText: 'with you' }).count(), 0)
    // Now ivy is suggested, for the other file, to the owner; and harry to ivy.
    await owner.page.getByRole('button', { name: 'Share memo.txt' }).click()
    await dialog.getByRole('button', { name: 'Choose ivy' }).click()
    assert.equal(await dialog.getByLabel('Username').inputValue(), 'ivy')
    await dialog.getByRole('button', { name: 'Share', exact: true }).click()
    await sharee.page.locator('#entries').getByRole('link', { name: 'memo.txt', exact: true }).waitFor()
    await sharee.page.locator('#entries .badge', { hasText: 'shared by harry' }).first().waitFor()
    // Its buttons say whose it is (two people may share files of one name).
    await sharee.page.getByRole('button', { name: 'Leave plan.pdf (shared by harry)' }).click()
    await sharee.page.locator('#dialog').getByRole('button', { name: 'Leave' }).click()
    await sharee.page.locator('#flash').filter({ hasText: 'You left "plan.pdf".' }).waitFor()
    await sharee.page.locator('#entries').getByRole('link', { name: 'plan.pdf', exact: true }).waitFor({ state: 'detached' })
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
    await sharee.page.locator('#notifications').filter({ hasText: '"plan.pdf", shared with you by harry, is no longer shared with you.' }).waitFor()
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
  // Each file has its progress bar, full once the server has it.
  assert.equal(await visitor.page.getByLabel('Progress of scan.pdf').evaluate((bar) => bar.value), 100)
  await visitor.context.close()
  assert.deepEqual(visitor.errors, [])

  await page.getByRole('button', { name: 'Rename scan.pdf' }).waitFor({ state: 'visible' })
  // The owner hears where it came from.
  await page.locator('#notifications').getByText('"scan.pdf" was dropped into $/inbox through one of your drop links.').waitFor()
  await page.getByRole('button', { name: 'Drop link' }).click()
  await dialog.locator('.shares').filter({ hasText: '1 of 3 uploads' }).waitFor()
  await dialog.getByRole('button', { name: /^Revoke the drop link of/ }).click()
  await dialog.locator('.shares').filter({ hasText: 'No drop link to this folder yet.' }).waitFor()
  await dialog.getByRole('button', { name: 'Cancel' }).click()
  await context.close()
  assert.deepEqual(errors, [])
}

scenarios['the sharing overview: what one shares with whom, what is shared with one, leave from there'] = async () => {
  const uma = await register('uma', 'a long password')
  const vic = await register('vic', 'a long password')
  await register('wes', 'a long password')
  const plan = await apiUpload(uma, '$/trip', 'plan.txt', Buffer.from('plan'))
  await apiCall(uma, 'POST', `/api/v1/files/${plan.id}/shares`, { username: 'vic' })
  await apiCall(uma, 'POST', `/api/v1/files/${plan.id}/shares`, { username: 'wes' })
  const song = await apiUpload(vic, '$', 'song.txt', Buffer.from('la la'))
  await apiCall(vic, 'POST', `/api/v1/files/${song.id}/shares`, { username: 'uma' })
  const { context, page, errors } = await open()
  await logIn(page, 'uma', 'a long password')
  await page.getByRole('button', { name: 'Shared', exact: true }).click()
  await page.locator('#shares-view').waitFor({ state: 'visible' })
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'shares-title')
  const outgoing = page.locator('#shares-outgoing')
  await outgoing.getByText(/with (vic, wes|wes, vic)/).waitFor()
  await outgoing.getByRole('link', { name: 'plan.txt' }).waitFor()
  await outgoing.getByRole('link', { name: '$/trip' }).waitFor()
  const incoming = page.locator('#shares-incoming')
  await incoming.getByRole('link', { name: 'song.txt' }).waitFor()
  await incoming.getByText('(shared by vic)').waitFor()

  // Manage opens the file's share dialog; withdrawing wes there updates the overview.
  await outgoing.getByRole('button', { name: 'Manage the shares of plan.txt' }).click()
  const dialog = page.locator('#dialog')
  await dialog.getByRole('button', { name: 'Withdraw the share with wes' }).click()
  await dialog.getByRole('button', { name: 'Cancel' }).click()
  await outgoing.getByText(' with vic ').waitFor()

  await incoming.getByRole('button', { name: 'Leave song.txt (shared by vic)' }).click()
  await dialog.getByRole('button', { name: 'Leave', exact: true }).click()
  await incoming.getByText('No file is shared with you.').waitFor()
  await page.getByRole('button', { name: 'Back to files' }).click()
  await page.getByRole('link', { name: 'trip/' }).waitFor()
  await context.close()
  assert.deepEqual(errors, [])
}
