#!/usr/bin/env node
/**
 * `pgnotifier`: listen to PostgreSQL channels from a terminal, or send a notification.
 * Run `pgnotifier --help` for the commands; the work is done in run.ts.
 */
import { run } from './run.js';

process.exitCode = await run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, process });
