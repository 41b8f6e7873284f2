// The files screen: trash, search, the move picker, the listing.

import assert from 'node:assert/strict'
import { DESKTOP, open, shoot, signUp, register, logIn, apiUpload, apiCall, listedNames, listingBecomes, uploadInPage } from '../harness.mjs'

export const scenarios = {}

scenarios['delete to the trash, restore (under another name when taken), delete forever'] = async () => {
  // The first restore is refused on purpose (the name is taken): 409.
  const { context, page, errors } = await open(DESKTOP, [409])
  await signUp(page, 'erin', 'a long password')
  const upload = async (text) => {
    await uploadInPage(page, {
      name: 'plan.txt',
      mimeType: 'text/plain',
      buffer: Buffer.from(text),
    })
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
  // It offers the first numbered name, not the one just found taken.
  await dialog.getByLabel('Restore as').waitFor()
  assert.equal(await dialog.getByLabel('Restore as').inputValue(), 'plan (1).txt')
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

  // Empty the trash: everything in it goes, and the focus goes to its title.
  await page.getByRole('button', { name: 'Back to files' }).click()
  await remove('plan (old).txt')
  await page.getByRole('button', { name: 'Trash' }).click()
  await trash.getByRole('button', { name: 'Restore plan (old).txt' }).waitFor()
  await page.getByRole('button', { name: 'Empty trash' }).click()
  await dialog.getByRole('button', { name: 'Empty trash' }).click()
  await page.locator('#flash').filter({ hasText: '1 file deleted for good.' }).waitFor()
  await page.locator('#trash-empty').waitFor({ state: 'visible' })
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'trash-title')

  // The trash is a place of its own: a reload keeps it, Back leaves it, Forward returns.
  assert.match(page.url(), /[?&]view=trash\b/)
  await page.reload()
  await page.locator('#trash-view').waitFor({ state: 'visible' })
  await page.locator('#trash-empty').waitFor({ state: 'visible' })
  await page.goBack()
  await page.locator('#files-view').waitFor({ state: 'visible' })
  await page.locator('#trash-view').waitFor({ state: 'hidden' })
  await page.goForward()
  await page.locator('#trash-view').waitFor({ state: 'visible' })
  await context.close()
  assert.deepEqual(errors, [])
}

scenarios['a folder renamed, moved with the picker and deleted; its shares follow'] = async () => {
  const nadia = await register('nadia', 'a long password')
  const oscar = await register('oscar', 'a long password')
  const plan = await apiUpload(nadia, '$/trip', 'plan.txt', Buffer.from('plan'))
  await apiUpload(nadia, '$/trip/photos', 'a.txt', Buffer.from('photo'))
  await apiUpload(nadia, '$/archive', 'old.txt', Buffer.from('old'))
  await apiUpload(nadia, '$/taken', 'x.txt', Buffer.from('x'))
  await apiCall(nadia, 'POST', `/api/v1/files/${plan.id}/shares`, { username: 'oscar' })
  // Renaming onto a folder she has is refused on purpose: 409.
  const { context, page, errors } = await open(DESKTOP, [409])
  await logIn(page, 'nadia', 'a long password')
  const dialog = page.locator('#dialog')
  const flash = page.locator('#flash')

  await page.getByRole('button', { name: 'Rename folder trip' }).click()
  await dialog.getByLabel('New name').fill('taken')
  await dialog.getByRole('button', { name: 'Rename', exact: true }).click()
  await dialog.getByText('You already have a folder $/taken').waitFor()
  await dialog.getByLabel('New name').fill(' Lisbon ')
  await dialog.getByRole('button', { name: 'Rename', exact: true }).click()
  await flash.filter({ hasText: 'Folder "trip" was renamed to "Lisbon" (2 files).' }).waitFor()
  await page.getByRole('link', { name: 'Lisbon/' }).waitFor()
  await page.getByRole('link', { name: 'trip/' }).waitFor({ state: 'detached' })

  await page.getByRole('button', { name: 'Move folder Lisbon' }).click()
  await dialog.getByRole('button', { name: 'Choose $/archive' }).click()
  assert.equal(await dialog.getByLabel('Into folder').inputValue(), '$/archive')
  await dialog.getByRole('button', { name: 'Move', exact: true }).click()
  await flash.filter({ hasText: 'Folder "Lisbon" was moved to $/archive (2 files).' }).waitFor()
  await page.getByRole('link', { name: 'Lisbon/' }).waitFor({ state: 'detached' })
  const seen = await apiCall(oscar, 'GET', `/api/v1/files/${plan.id}`)
  assert.equal(seen.folder, '$/archive/Lisbon', 'the sharee sees the file at its new place')
  await page.getByRole('link', { name: 'archive/' }).click()
  await page.getByRole('link', { name: 'Lisbon/' }).click()
  await page.getByRole('link', { name: 'plan.txt' }).waitFor()
  await page.getByRole('link', { name: 'photos/' }).waitFor()

  await page.locator('#breadcrumb').getByRole('link', { name: 'My files' }).click()
  await page.getByRole('button', { name: 'Delete folder archive' }).click()
  await dialog.getByText('Files shared with you stay.').waitFor()
  await dialog.getByRole('button', { name: 'Delete', exact: true }).click()
  await flash.filter({ hasText: 'Folder "archive": 3 files moved to the trash.' }).waitFor()
  await page.getByRole('link', { name: 'archive/' }).waitFor({ state: 'detached' })
  await page.getByRole('button', { name: 'Trash' }).click()
  await page.locator('#trash-view').getByRole('button', { name: 'Restore plan.txt' }).waitFor()
  await context.close()
  assert.deepEqual(errors, [])
}

scenarios['search file names and contents; a bad expression says why'] = async () => {
  const fiona = await register('fiona', 'a long password')
  await apiUpload(fiona, '$/deep/er', 'Travel Notes.md', Buffer.from('packing list'))
  const { context, page, errors } = await open(DESKTOP, [400])
  await logIn(page, 'fiona', 'a long password')
  await uploadInPage(page, {
    name: 'notes.txt',
    mimeType: 'text/plain',
    buffer: Buffer.from('alpha\nthe needle is here\nomega\n'),
  })
  await page.getByRole('button', { name: 'Rename notes.txt' }).waitFor({ state: 'visible' })
  const query = page.getByLabel('Search for')
  const results = page.locator('#search-results')
  // By name (the default), in any case, in every folder below: each hit downloads the
  // file, and its folder opens the folder.
  await query.fill(' NOTES ')
  await page.getByRole('button', { name: 'Search', exact: true }).click()
  await results.locator('#search-title').filter({ hasText: '2 files below $ named like "NOTES"' }).waitFor()
  // By name, in code point order (as every listing).
  assert.deepEqual(await results.locator('a[download]').allInnerTexts(), ['Travel Notes.md', 'notes.txt'])
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    results.getByRole('link', { name: 'Travel Notes.md' }).click(),
  ])
  assert.equal(download.suggestedFilename(), 'Travel Notes.md')
  await results.getByRole('link', { name: '$/deep/er' }).click()
  await page.locator('#breadcrumb').getByText('er', { exact: true }).waitFor()
  await page.locator('#breadcrumb').getByRole('link', { name: 'My files' }).click()
  await page.getByRole('button', { name: 'Rename notes.txt' }).waitFor({ state: 'visible' })

  await page.getByLabel('Search in').selectOption('contents')
  await query.fill('need+le')
  await page.getByRole('button', { name: 'Search', exact: true }).click()
  await results.locator('#search-title').filter({ hasText: '1 file below $ match "need+le"' }).waitFor()
  assert.equal(await results.locator('pre').innerText(), '2: the needle is here')
  assert.equal(await results.locator('a[download]').innerText(), 'notes.txt')
  await query.fill('(')
  await page.getByRole('button', { name: 'Search', exact: true }).click()
  await page.locator('#flash.flash-error').waitFor({ state: 'visible' })
  // A good expression after it: the stale error goes.
  await query.fill('needle')
  await page.getByRole('button', { name: 'Search', exact: true }).click()
  await results.locator('#search-title').filter({ hasText: 'match "needle"' }).waitFor()
  await page.locator('#flash.flash-error').waitFor({ state: 'hidden' })
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

  // Typed as people type it: "projects/beta/" is $/projects/beta.
  await page.getByRole('button', { name: 'Move notes.txt' }).click()
  await target.fill('projects/beta/')
  await dialog.getByRole('button', { name: 'Move', exact: true }).click()
  await page.locator('#flash').filter({ hasText: '"notes.txt" was moved to $/projects/beta.' }).waitFor()
  // Renamed to its own name: nothing to do, no "already exists".
  await page.getByRole('link', { name: 'notes.txt' }).waitFor({ state: 'detached' })
  await page.locator('#breadcrumb').getByRole('link', { name: 'projects' }).click()
  await page.getByRole('link', { name: 'beta' }).click()
  await page.getByRole('button', { name: 'Rename notes.txt' }).click()
  await dialog.getByRole('button', { name: 'Rename', exact: true }).click()
  await dialog.waitFor({ state: 'hidden' })
  assert.equal(await page.locator('#flash.flash-error').count(), 0)
  await context.close()
  assert.deepEqual(errors, [])
}

scenarios['a folder of more than a page sorts on the server: the largest file first, from the second page by name; the trash pages on'] =
  async () => {
    const session = await register('omar', 'a long password')
    const names = Array.from({ length: 100 }, (_, index) => `f${String(index).padStart(3, '0')}.txt`)
    for (const name of names) await apiUpload(session, '$', name, Buffer.from('1'))
    await apiUpload(session, '$', 'zz-big.bin', Buffer.alloc(5000, 1))
    // And a trash of more than a page too: 101 files of another folder, deleted.
    for (const name of [...names, 'extra.txt']) {
      const file = await apiUpload(session, '$/old', name, Buffer.from('2'))
      await apiCall(session, 'DELETE', `/api/v1/files/${file.id}`)
    }
    const { context, page, errors } = await open()
    await logIn(page, 'omar', 'a long password')
    await page.getByRole('link', { name: 'f099.txt' }).waitFor()
    assert.equal(await page.getByRole('link', { name: 'zz-big.bin' }).count(), 0, 'on the second page by name')
    // The filter says it sees only what is loaded.
    await page.getByLabel('Filter this folder').fill('zz')
    await page.getByText('Only the 100 files loaded so far are filtered: "more" loads the rest.').waitFor()
    await page.getByLabel('Filter this folder').fill('')
    await page.getByRole('button', { name: 'Sort by size' }).click()
    await page.getByRole('button', { name: 'Sort by size' }).click()
    await page.locator('#entries a[download]').first().filter({ hasText: 'zz-big.bin' }).waitFor()
    // The next page continues in size order, largest first: the rest, by name backwards.
    await page.getByRole('button', { name: 'more' }).click()
    await page.locator('#entries a[download]').nth(100).waitFor()
    const listed = await listedNames(page)
    assert.deepEqual(listed, ['zz-big.bin', ...[...names].reverse()])
    assert.ok(await page.locator('#more').isHidden())

    // The trash pages on too: 101 files, 100 at a time.
    await page.getByRole('button', { name: 'Trash' }).click()
    const trashRows = page.locator('#trash-entries tr')
    await trashRows.nth(99).waitFor()
    assert.equal(await trashRows.count(), 100)
    await page.locator('#trash-more').click()
    await trashRows.nth(100).waitFor()
    assert.equal(await trashRows.count(), 101)
    assert.ok(await page.locator('#trash-more').isHidden())
    await context.close()
    assert.deepEqual(errors, [])
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
  await listingBecomes(page, ['alpha.txt', 'gamma.png', 'beta.txt'])
  await page.getByRole('button', { name: 'Sort by size' }).click()
  await listingBecomes(page, ['beta.txt', 'gamma.png', 'alpha.txt'])
  assert.equal(await page.locator('th', { has: page.getByRole('button', { name: 'Sort by size' }) }).getAttribute('aria-sort'), 'descending')
  await page.getByRole('button', { name: 'Sort by date modified' }).click()
  await listingBecomes(page, ['beta.txt', 'alpha.txt', 'gamma.png'])
  await page.getByRole('button', { name: 'Sort by name' }).click()
  await listingBecomes(page, ['alpha.txt', 'beta.txt', 'gamma.png'])

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
  assert.equal(await dialog.getByRole('button', { name: 'Cancel' }).count(), 0, 'a preview has one way out')
  await dialog.getByRole('button', { name: 'Close' }).click()
  await page.getByRole('button', { name: 'Preview alpha.txt' }).click()
  await dialog.locator('pre').filter({ hasText: 'the first lines of alpha' }).waitFor()
  await dialog.getByRole('button', { name: 'Close' }).click()

  // Every file shown at once, and none again.
  await page.getByLabel('Select every file shown').check()
  await page.getByText('3 files selected').waitFor()
  await page.getByLabel('Select every file shown').uncheck()
  await page.locator('#selection-bar').waitFor({ state: 'hidden' })
  await page.getByLabel('Select alpha.txt').check()
  await page.getByLabel('Select beta.txt').check()
  await page.getByText('2 files selected').waitFor()
  // A selected file the filter hides is still selected: the bar says so.
  await page.getByLabel('Filter this folder').fill('alp')
  await page.getByText('2 files selected (1 hidden by the filter)').waitFor()
  await page.getByLabel('Filter this folder').fill('')
  await page.getByText('2 files selected', { exact: true }).waitFor()
  await shoot(page, 'listing-selection-desktop')
  await page.getByRole('button', { name: 'Move selected' }).click()
  await dialog.getByRole('button', { name: 'Cancel' }).waitFor()
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
