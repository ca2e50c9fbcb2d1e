@lab-2.1
Feature: VM control
  Lab 2.1: a user who may access a virtual machine can Stop, Start, Restart, Pause and
  Unpause it. Every scenario creates its own VM in its own namespace.

  Background:
    Given a running VM

  @step-4
  Scenario: Stop reaches Stopped
    When I stop the VM
    Then the stop is accepted
    And the VM reaches Stopped
    And the VM has no VMI and no launcher pod
    And the VM's run strategy is Halted
    And the VM is not Ready

  @step-5
  Scenario: A stopped VM offers only Start
    Given the VM is stopped
    Then the Actions offered are: Start
    When I restart the VM
    Then the restart is rejected with 409 "RunStategy Halted does not support manual restart requests"
    When I pause the VM
    Then the pause is rejected with 404 "not found" or 409 "VM is not running"
    When I unpause the VM
    Then the unpause is rejected with 404 "not found" or 409 "VMI is not running"
    When I stop the VM
    Then the stop is rejected with 409 "VM is not running"
    And the VM stays Stopped with no VMI
    When I start the VM
    Then the start is accepted
    And the VM reaches Running

  @step-6
  Scenario: Start is offered only when the VM is stopped
    Given I note the VM's VMI, node and launcher pod
    When I start the VM
    Then the start is rejected with 409 "VM is already running"
    And the VM stays Running on the same VMI, node and launcher pod

  @step-6 @step-7
  Scenario: Pause keeps the VM's memory allocated
    Given I note the VM's VMI, node and launcher pod
    When I pause the VM
    Then the pause is accepted
    And the VM reaches Paused
    And the VMI is still Running with Paused=True because PausedByUser
    And the VM is not Ready
    And the VM is on the same VMI, node and launcher pod
    And the launcher pod is still Running, not restarted, with the same memory request
    When I pause the VM
    Then the pause is rejected with 409 "VMI is already paused"

  @step-8
  Scenario: Unpause resumes the VM
    Given the VM is paused
    Then the Actions offered are: Stop, Restart, Unpause
    Given I note the VM's VMI, node and launcher pod
    When I unpause the VM
    Then the unpause is accepted
    And the VM reaches Running
    And the VMI has no Paused condition
    And the VM becomes Ready
    And the VM is on the same VMI, node and launcher pod

  @step-3
  Scenario: Restart reboots the VM into a new instance
    Then the Actions offered are: Stop, Restart, Pause
    Given I note the VM's VMI, node and launcher pod
    When I restart the VM
    Then the restart is accepted
    And the VM gets a new VMI with the same name
    And the VM reaches Running
    And the new VMI runs in a new launcher pod
