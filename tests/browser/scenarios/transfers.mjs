// Transfers: streamed downloads, folder archives, the upload queue, resumable uploads.

import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { base, DESKTOP, browser, open, shoot, register, logIn, heapUsed, apiUpload, leavingWarns, uploadRow, uploadInPage, apiCall } from '../harness.mjs'

export const scenarios = {}

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
  const ready = page.locator('#notifications').getByRole('link', { name: 'Your download of $/trip is ready. Start it by clicking here.' })
  const [download] = await Promise.all([page.waitForEvent('download'), ready.click()])
  assert.equal(download.suggestedFilename(), 'trip.zip')
  const zip = fs.readFileSync(await download.path())
  assert.equal(zip.subarray(0, 2).toString(), 'PK')
  for (const entry of ['notes.txt', 'photos/beach.jpg']) assert.ok(zip.includes(entry), `the ZIP holds ${entry}`)

  // It outlives the page: after a reload the side panel lists it, ready to download again,
  // and it can be removed.
  await page.reload()
  const listed = page.locator('#archives').getByRole('link', { name: 'ZIP of $/trip' })
  await listed.waitFor()
  await page.locator('#archives').getByText('2 files').waitFor()
  const [again] = await Promise.all([page.waitForEvent('download'), listed.click()])
  assert.equal(again.suggestedFilename(), 'trip.zip')
  await page.getByRole('button', { name: 'Remove the ZIP of $/trip' }).click()
  await page.locator('#archives-panel').waitFor({ state: 'hidden' })
  assert.deepEqual((await apiCall(session, 'GET', '/api/v1/archives')).items, [])
  await context.close()
  assert.deepEqual(errors, [])
}

scenarios['several files dropped, one failing: the others upload and the failure says why; a folder keeps its tree'] =
  async () => {
    const session = await register('jules', 'a long password')
    const first = await apiUpload(session, '$', 'taken.txt', Buffer.from('here first'))
    await apiUpload(session, '$', 'taken (1).txt', Buffer.from('and its first copy'))
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
    // Keep both: it goes up under the first free number ("taken (1).txt" is taken too).
    await page.getByRole('button', { name: 'Keep both taken.txt' }).click()
    await uploadRow(page, 'taken.txt').filter({ hasText: 'done, as "taken (2).txt"' }).waitFor()
    await page.getByRole('link', { name: 'taken (2).txt' }).waitFor()
    assert.ok(await page.getByRole('button', { name: 'Keep both taken.txt' }).isHidden())

    // Replace: dropped again, it becomes the new version of the file there (same id).
    const again = await page.evaluateHandle(() => {
      const transfer = new DataTransfer()
      transfer.items.add(new File(['the new version'], 'taken.txt', { type: 'text/plain' }))
      return transfer
    })
    await page.dispatchEvent('#files-view', 'drop', { dataTransfer: again })
    const retry = uploadRow(page, 'taken.txt').filter({ hasText: /failed: .*already exists/i })
    await retry.getByRole('button', { name: 'Replace taken.txt' }).click()
    await uploadRow(page, 'taken.txt').filter({ hasText: 'done, the file replaced' }).waitFor()
    const content = await fetch(`${base}/api/v1/files/${first.id}/content`, {
      headers: { Authorization: `Bearer ${session.access_token}` },
    })
    assert.equal(await content.text(), 'the new version', 'the same file, its new content')

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

    // Dropped on the side panel, not the files: it still goes to this folder, and the
    // browser does not open it in the tab instead.
    const aside = await page.evaluateHandle(() => {
      const transfer = new DataTransfer()
      transfer.items.add(new File(['aside'], 'aside.txt', { type: 'text/plain' }))
      return transfer
    })
    const kept = await page.evaluate((transfer) => {
      const drop = new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true })
      document.querySelector('#side').dispatchEvent(drop)
      return drop.defaultPrevented
    }, aside)
    assert.equal(kept, true, 'the browser keeps the page')
    await uploadRow(page, 'aside.txt').filter({ hasText: 'done' }).waitFor()
    await page.getByRole('link', { name: 'aside.txt' }).waitFor()
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
    await uploadInPage(page, { name: 'film.bin', mimeType: 'application/octet-stream', buffer: content })
    const row = uploadRow(page, 'film.bin')
    await row.filter({ hasText: 'waiting for the network to resume' }).waitFor()
    assert.equal(await leavingWarns(page), true, 'leaving mid-upload asks first')
    // So does logging out, which would cancel it; kept.
    await page.getByRole('button', { name: 'Log out' }).click()
    await page.locator('#dialog').getByText('Uploads are still under way: logging out cancels them.').waitFor()
    await page.locator('#dialog').getByRole('button', { name: 'Cancel' }).click()
    assert.ok(await page.locator('#files-view').isVisible())
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

scenarios['a big upload outlives a reload: the same file picked again goes on from where it was'] = async () => {
  const size = 24 * 1024 * 1024
  const chunk = 8 * 1024 * 1024
  const content = crypto.randomBytes(size)
  // A file on disk, so that picking it again is the same file (name, size, modification time).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drip-reload-'))
  const film = path.join(dir, 'reel.bin')
  fs.writeFileSync(film, content)
  await register('quinn', 'a long password')
  // The last upload passes the quota on purpose: 507.
  const { context, page, errors } = await open(DESKTOP, [507])
  await logIn(page, 'quinn', 'a long password')
  const sent = []
  page.on('request', (request) => {
    if (request.url().includes('/api/v1/uploads')) sent.push(`${request.method()} ${request.headers()['upload-offset'] ?? ''}`.trim())
  })
  // The second chunk is held before it reaches the server: the page is reloaded meanwhile
  // (which drops it), so the server has exactly the first chunk.
  let hung
  const hanging = new Promise((resolve) => { hung = resolve })
  let holding = true
  await page.route('**/api/v1/uploads/*', async (route) => {
    if (holding && route.request().method() === 'PATCH' && route.request().headers()['upload-offset'] !== '0') {
      hung()
      return
    }
    await route.continue()
  })
  await uploadInPage(page, film)
  await hanging
  assert.deepEqual(sent, ['POST', 'PATCH 0', `PATCH ${chunk}`])
  page.on('dialog', (dialog) => dialog.accept())
  await page.reload()
  await page.locator('#files-view').waitFor({ state: 'visible' })
  holding = false
  // The page says what an earlier page left unfinished, and how to go on.
  const left = page.locator('#upload-remembered li', { hasText: 'reel.bin (into $): 33% stored. Choose the same file again to go on.' })
  await left.waitFor()
  sent.length = 0

  await uploadInPage(page, film)
  await uploadRow(page, 'reel.bin').filter({ hasText: 'done' }).waitFor()
  assert.equal(await left.count(), 0, 'under way again: its line is gone')
  assert.deepEqual(sent, ['HEAD', `PATCH ${chunk}`, `PATCH ${2 * chunk}`], 'no new upload: on from the durable offset')
  const kept = await page.evaluate(() => Object.keys(localStorage).filter((key) => key.startsWith('drip.upload:')))
  assert.deepEqual(kept, [], 'a finished upload is forgotten')
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: 'reel.bin' }).click(),
  ])
  const digest = (bytes) => crypto.createHash('sha256').update(bytes).digest('hex')
  assert.equal(digest(fs.readFileSync(await download.path())), digest(content))

  // Past the quota (100 MiB in this suite): refused at once, in the header's units.
  const huge = path.join(dir, 'huge.bin')
  fs.closeSync(fs.openSync(huge, 'w'))
  fs.truncateSync(huge, 101 * 1024 * 1024)
  await uploadInPage(page, huge)
  await uploadRow(page, 'huge.bin').filter({ hasText: 'does not fit in your storage quota of 100 MB (24 MB used, 76 MB free)' }).waitFor()
  fs.rmSync(dir, { recursive: true, force: true })
  await context.close()
  assert.deepEqual(errors, [])
}
