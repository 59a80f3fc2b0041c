#!/bin/sh
# placeholder: being written
