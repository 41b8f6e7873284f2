// The phone: every screen and dialog within 375 px.

import assert from 'node:assert/strict'
import { MOBILE, open, shoot, fitsWidth, signUp, register, logIn, apiUpload, uploadRow, apiCall, dialogFits, listingBecomes, uploadInPage } from '../harness.mjs'

export const scenarios = {}

scenarios['the files screen fits a 375 px phone, long names included'] = async () => {
  const { context, page, errors } = await open(MOBILE)
  await signUp(page, 'dave', 'a long password')
  const report = 'the quarterly report of the north-western region, final version (2).pdf'
  await uploadInPage(page, [
    { name: report, mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4 not really') },
    { name: 'big.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(4000, 1) },
  ])
  await page.getByRole('button', { name: /^Rename the quarterly report/ }).waitFor({ state: 'visible' })
  await page.getByRole('button', { name: 'Rename big.bin' }).waitFor({ state: 'visible' })
  await fitsWidth(page)
  await shoot(page, 'files-mobile')
  // The column headers are out of sight on a phone: the list of orders sorts.
  const sort = page.getByRole('combobox', { name: 'Sort by' })
  assert.ok(await sort.isVisible(), 'a phone can sort')
  await sort.selectOption('size desc')
  await listingBecomes(page, ['big.bin', report])
  await sort.selectOption('name asc')
  await listingBecomes(page, ['big.bin', report].sort())
  await context.close()
  assert.deepEqual(errors, [])
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

  await page.locator('#entries input[type="checkbox"]').first().check()
  await fitsWidth(page)
  const dataTransfer = await page.evaluateHandle((name) => {
    const transfer = new DataTransfer()
    transfer.items.add(new File(['agenda'], `agenda for ${name}`, { type: 'text/plain' }))
    return transfer
  }, long)
  await page.dispatchEvent('#files-view', 'drop', { dataTransfer })
  await uploadRow(page, 'agenda for').filter({ hasText: 'done' }).waitFor()
  await fitsWidth(page)
  // The notifications are below the files here: the header counts the new ones and leads there.
  await page.getByRole('button', { name: /^Notifications, \d+ new ones?$/ }).click()
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'notifications-title')
  await page.locator('#unseen').waitFor({ state: 'hidden' })
  assert.ok(await page.locator('#notifications li').count() > 0)

  await page.getByLabel('Search for').fill('we met')
  await page.getByLabel('Search in').selectOption('contents')
  await page.getByRole('button', { name: 'Search', exact: true }).click()
  await page.locator('#search-results').waitFor({ state: 'visible' })
  await fitsWidth(page)
  // A long name found by a name search wraps too.
  await page.getByLabel('Search in').selectOption('names')
  await page.getByLabel('Search for').fill(long.slice(0, 12))
  await page.getByRole('button', { name: 'Search', exact: true }).click()
  await page.locator('#search-title').filter({ hasText: 'named like' }).waitFor()
  await page.locator('#search-matches').getByRole('link', { name: long, exact: true }).waitFor()
  await fitsWidth(page)
  await page.getByRole('button', { name: 'Close the results' }).click()

  await page.getByRole('button', { name: `Delete ${long}`, exact: true }).click()
  await page.locator('#dialog').getByRole('button', { name: 'Delete', exact: true }).click()
  await page.getByRole('link', { name: long, exact: true }).waitFor({ state: 'detached' })
  await page.getByRole('button', { name: 'Trash' }).click()
  await page.locator('#trash-view').waitFor({ state: 'visible' })
  await fitsWidth(page)
  await shoot(page, 'trash-dark-mobile')
  await page.getByRole('button', { name: 'Account' }).click()
  await page.locator('#account-view').waitFor({ state: 'visible' })
  await fitsWidth(page)

  await context.close()
  assert.deepEqual(errors, [])
}

scenarios['names without a space wrap everywhere: breadcrumb, flash, notifications, trash, on a phone and a desktop'] =
  async () => {
    await register('rita', 'a long password')
    const folder = `$/${'f'.repeat(100)}`
    const name = `${'z'.repeat(124)}.txt`
    const { context, page, errors } = await open(MOBILE)
    await logIn(page, 'rita', 'a long password')
    await page.goto(`/?${new URLSearchParams({ path: folder })}`)
    await page.locator('#breadcrumb [aria-current="page"]').filter({ hasText: 'f'.repeat(100) }).waitFor()
    await fitsWidth(page)
    await uploadInPage(page, { name, mimeType: 'text/plain', buffer: Buffer.from('z') })
    await page.getByRole('button', { name: `Rename ${name}` }).waitFor()
    await page.locator('#notifications li', { hasText: name }).first().waitFor()
    await page.locator('#flash').filter({ hasText: name }).waitFor()
    await fitsWidth(page)
    await page.getByRole('button', { name: `Delete ${name}` }).click()
    await page.locator('#dialog').getByRole('button', { name: 'Delete', exact: true }).click()
    await page.locator('#flash').filter({ hasText: 'was moved to the trash' }).waitFor()
    await page.getByRole('button', { name: 'Trash' }).click()
    await page.locator('#trash-view').getByRole('button', { name: `Restore ${name}` }).waitFor()
    await fitsWidth(page)
    await context.close()
    assert.deepEqual(errors, [])

    const desktop = await open()
    await logIn(desktop.page, 'rita', 'a long password')
    await desktop.page.getByRole('button', { name: 'Trash' }).click()
    await desktop.page.locator('#trash-view').getByRole('button', { name: `Restore ${name}` }).waitFor()
    await fitsWidth(desktop.page)
    await desktop.context.close()
    assert.deepEqual(desktop.errors, [])
  }
