/*
 * command.h - the client commands the master serves (PROTOCOL.md part 1):
 * RegisterVM, UnregisterVM, AttachVM, Hyper, ConnectShim, and the error
 * answers to DisconnectShim and Signal, which only a shim may send (and
 * shims are served by their helper, not here).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct client;
struct frame;
struct vm;

/**
 * command_dispatch() - serve one command frame (opcode known). Either a
 * response is queued now, or the client is put in a wait state and
 * answered later (client_finish()).
 */
void command_dispatch(struct client *c, const struct frame *f);

/**
 * command_answer_tokens() - allocate @n tokens for @vm, announce each to
 * its helper (IPC_M_ADD_TOKEN) and answer command @opcode of @c with the
 * io answer: at once, or (@finish) as the command @c waits for, through
 * client_finish().
 * Return: 0, or -errno after an error answer (no token kept).
 */
int command_answer_tokens(struct client *c, struct vm *vm, unsigned int n,
			  uint8_t opcode, bool finish);
